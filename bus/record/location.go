package record

import "strconv"

// ValidLocation reports whether loc is an ISO 6709 latitude and longitude in
// signed decimal degrees with no separator (+34.068930-118.445127), each part
// a sign, digits, optionally '.' and digits, latitude within [-90, 90] and
// longitude within [-180, 180]. The range check is exact on the digits.
func ValidLocation[T string | []byte](loc T) bool {
	lat, lng, ok := splitLocation(loc)
	return ok && withinDegrees(lat, "90") && withinDegrees(lng, "180")
}

// splitLocation splits loc at the sign that starts the longitude and checks
// that both parts are a sign then a decimal number.
func splitLocation[T string | []byte](loc T) (lat, lng T, ok bool) {
	if len(loc) < 4 {
		return lat, lng, false
	}
	for i := 1; i < len(loc); i++ {
		if loc[i] == '+' || loc[i] == '-' {
			lat, lng = loc[:i], loc[i:]
			return lat, lng, signedDecimal(lat) && signedDecimal(lng)
		}
	}
	return lat, lng, false
}

// signedDecimal: a sign, digits, optionally '.' and at least one digit.
func signedDecimal[T string | []byte](s T) bool {
	if len(s) < 2 || (s[0] != '+' && s[0] != '-') {
		return false
	}
	return Decimal(s[1:])
}

// Decimal reports whether s is digits, optionally followed by '.' and
// digits (at least one digit on each side of the dot).
func Decimal[T string | []byte](s T) bool {
	dot := -1
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
		case c == '.' && dot < 0:
			dot = i
		default:
			return false
		}
	}
	if dot < 0 {
		return len(s) > 0
	}
	return dot > 0 && dot < len(s)-1
}

// withinDegrees reports whether the signed decimal s has |s| ≤ max, where
// max is an integer written without leading zeros.
func withinDegrees[T string | []byte](s T, max string) bool {
	return AtMost(s[1:], max)
}

// AtMost reports whether the unsigned decimal s is ≤ the integer max
// (written without leading zeros), compared exactly on the digits.
func AtMost[T string | []byte](s T, max string) bool {
	intPart, frac := splitTime(s)
	if len(intPart) != len(max) {
		return len(intPart) < len(max)
	}
	for i := 0; i < len(max); i++ {
		if intPart[i] != max[i] {
			return intPart[i] < max[i]
		}
	}
	return len(frac) == 0 // equal integer parts: only an all-zero fraction is ≤ max
}

// IsZero reports whether the unsigned decimal s is zero.
func IsZero[T string | []byte](s T) bool {
	intPart, frac := splitTime(s)
	return len(intPart) == 0 && len(frac) == 0
}

// LatLng parses a valid location into degrees for Places queries.
func LatLng(loc string) (lat, lng float64, ok bool) {
	a, b, ok := splitLocation(loc)
	if !ok {
		return 0, 0, false
	}
	lat, err1 := strconv.ParseFloat(a, 64)
	lng, err2 := strconv.ParseFloat(b, 64)
	return lat, lng, err1 == nil && err2 == nil
}
