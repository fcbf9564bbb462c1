package record

import (
	"cmp"
	"math"
	"strconv"
)

// Client times are POSIX seconds written as digits with an optional
// fraction. They are kept as the client's exact text and compared as exact
// decimals: float64 cannot tell 1621464827.959498503 from
// 1621464827.959498504, and the herd must pick one winner everywhere.

// maxIntDigits bounds the integer part of a client time (protocol §1).
const maxIntDigits = 20

// ValidTime reports whether t is digits with an optional '.' and digits:
// no sign, no exponent, no NaN or Inf, at most 20 integer digits.
func ValidTime(t []byte) bool {
	dot := -1
	for i, c := range t {
		switch {
		case c >= '0' && c <= '9':
		case c == '.' && dot < 0:
			dot = i
		default:
			return false
		}
	}
	switch {
	case dot < 0:
		return len(t) > 0 && len(t) <= maxIntDigits
	default:
		return dot > 0 && dot <= maxIntDigits && dot < len(t)-1
	}
}

// splitTime returns the integer digits without leading zeros and the
// fraction digits without trailing zeros. t must be valid.
func splitTime[T string | []byte](t T) (intPart, frac T) {
	intPart = t
	for i := 0; i < len(t); i++ {
		if t[i] == '.' {
			intPart, frac = t[:i], t[i+1:]
			break
		}
	}
	for len(intPart) > 0 && intPart[0] == '0' {
		intPart = intPart[1:]
	}
	for len(frac) > 0 && frac[len(frac)-1] == '0' {
		frac = frac[:len(frac)-1]
	}
	return intPart, frac
}

// CompareTime compares two valid client times exactly as decimals and
// returns -1, 0 or +1. It does not allocate.
func CompareTime(a, b string) int {
	ai, af := splitTime(a)
	bi, bf := splitTime(b)
	if len(ai) != len(bi) {
		return cmp.Compare(len(ai), len(bi))
	}
	if ai != bi {
		return cmp.Compare(ai, bi)
	}
	// Equal integer parts: compare fractions digit by digit; a missing
	// digit is a zero, and trailing zeros were removed, so the longer
	// fraction with an equal prefix is the larger.
	n := min(len(af), len(bf))
	if c := cmp.Compare(af[:n], bf[:n]); c != 0 {
		return c
	}
	return cmp.Compare(len(af), len(bf))
}

// Diff returns now − t in integer nanoseconds, rounded to the nearest
// nanosecond (ties to even) when t has more than nine fraction digits.
// ok is false when the difference does not fit in an int64, which makes
// the IAMAT invalid. t must be valid (see ValidTime).
func Diff(nowNanos int64, t []byte) (diff int64, ok bool) {
	intPart, frac := splitTime(t)
	// An integer part beyond 11 significant digits is more than 3,000 years
	// from any int64 clock: reject before the arithmetic can overflow.
	if len(intPart) > 11 {
		return 0, false
	}
	var sec uint64
	for _, c := range intPart {
		sec = sec*10 + uint64(c-'0')
	}
	var ns uint64
	for i := 0; i < 9; i++ {
		ns *= 10
		if i < len(frac) {
			ns += uint64(frac[i] - '0')
		}
	}
	const maxSec = math.MaxUint64/1_000_000_000 - 1
	if sec > maxSec {
		return 0, false
	}
	tns := sec*1e9 + ns // ≤ 1.8e19: fits in uint64
	// Sub-nanosecond digits: decide rounding of (now − t).
	// rest is compared with one half: below, exactly, or above.
	half := 0
	if len(frac) > 9 {
		switch rest := frac[9:]; {
		case rest[0] > '5':
			half = 1
		case rest[0] < '5':
			half = -1
		case len(rest) > 1: // '5' followed by digits: trailing zeros were trimmed, so some are non-zero
			half = 1
		}
		// rest is non-zero here (trailing zeros trimmed, len > 9).
	}
	// now − t = now − tns − rest, with rest in (0, 1) ns when len(frac) > 9.
	// Compute d = now − tns exactly in 128 bits, then round.
	d, ok := sub(nowNanos, tns)
	if !ok {
		return 0, false
	}
	if len(frac) > 9 {
		// Exact value is d − rest. Round to nearest: rest > ½ → d−1;
		// rest < ½ → d; rest = ½ → the even of d and d−1.
		if half > 0 || (half == 0 && d%2 != 0) {
			if d == math.MinInt64 {
				return 0, false
			}
			d--
		}
	}
	return d, true
}

// sub returns a − b for a signed a and unsigned b, reporting overflow of int64.
func sub(a int64, b uint64) (int64, bool) {
	if a >= 0 {
		ua := uint64(a)
		if ua >= b {
			return int64(ua - b), true // ua − b ≤ MaxInt64
		}
		neg := b - ua // result is −neg
		if neg > 1<<63 {
			return 0, false
		}
		return int64(-neg), true // wraps correctly for neg == 1<<63
	}
	// a < 0: result = a − b ≤ a, overflow if b > a − MinInt64.
	room := uint64(a - math.MinInt64) // in [0, MaxInt64]
	if b > room {
		return 0, false
	}
	return a - int64(b), true
}

// AppendDiff appends d nanoseconds as seconds with a sign and exactly nine
// fraction digits: +0.263873386, -2.000000000.
func AppendDiff(dst []byte, d int64) []byte {
	var u uint64
	if d < 0 {
		dst = append(dst, '-')
		u = uint64(-(d + 1)) + 1 // safe for MinInt64
	} else {
		dst = append(dst, '+')
		u = uint64(d)
	}
	dst = strconv.AppendUint(dst, u/1e9, 10)
	dst = append(dst, '.')
	frac := u % 1e9
	var buf [9]byte
	for i := 8; i >= 0; i-- {
		buf[i] = byte('0' + frac%10)
		frac /= 10
	}
	return append(dst, buf[:]...)
}

// CanonicalTime returns a valid client time's integer digits without
// leading zeros and its fraction digits without trailing zeros: two times
// are equal under CompareTime exactly when their canonical parts are.
func CanonicalTime(t string) (intPart, frac string) { return splitTime(t) }
