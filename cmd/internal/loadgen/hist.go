package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// Histogram records durations with HDR-style log-linear buckets: every
// power of two is split into 64 equal sub-buckets, so a quantile is off by
// less than 1/64 (1.6%) of its value, from nanoseconds to centuries, in a
// fixed 30 KiB. The zero value is ready to use; it is not safe for
// concurrent use (each worker keeps its own and Merge combines them).
type Histogram struct {
	counts   [numBuckets]uint64
	n        uint64
	sum      float64 // nanoseconds, for the mean
	min, max int64
}

const (
	subBits    = 7
	subCount   = 1 << subBits // values below this have a bucket each
	subHalf    = subCount / 2
	numBuckets = subCount + (64-subBits)*subHalf
)

// bucket maps a value to its bucket index.
func bucket(v int64) int {
	if v < subCount {
		return int(max(v, 0))
	}
	shift := bits.Len64(uint64(v)) - subBits // ≥ 1
	top := int(uint64(v) >> shift)           // in [subHalf, subCount)
	return subCount + (shift-1)*subHalf + top - subHalf
}

// upper is the largest value that falls in bucket i.
func upper(i int) int64 {
	if i < subCount {
		return int64(i)
	}
	shift := (i-subCount)/subHalf + 1
	top := int64((i-subCount)%subHalf + subHalf)
	hi := (top+1)<<shift - 1
	if hi < 0 { // the last bucket of int64
		return math.MaxInt64
	}
	return hi
}

// Record adds one duration; negative ones count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	h.counts[bucket(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

// Merge adds every value of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.n }

// Quantile returns the value at quantile q in [0, 1]: the highest value
// equivalent (within the bucket's precision) to the recorded value of that
// rank, never above the recorded maximum. It is 0 when nothing was recorded.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(max(upper(i), h.min), h.max))
		}
	}
	return time.Duration(h.max)
}

// Summary is a histogram's digest in milliseconds, for people and --json.
type Summary struct {
	Count uint64  `json:"count"`
	Min   float64 `json:"min_ms"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p99_9_ms"`
	Max   float64 `json:"max_ms"`
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// Summary digests h.
func (h *Histogram) Summary() Summary {
	if h.n == 0 {
		return Summary{}
	}
	return Summary{
		Count: h.n,
		Min:   ms(time.Duration(h.min)),
		Mean:  h.sum / float64(h.n) / 1e6,
		P50:   ms(h.Quantile(0.50)),
		P90:   ms(h.Quantile(0.90)),
		P99:   ms(h.Quantile(0.99)),
		P999:  ms(h.Quantile(0.999)),
		Max:   ms(time.Duration(h.max)),
	}
}
