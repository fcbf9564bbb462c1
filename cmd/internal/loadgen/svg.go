package loadgen

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// LadderSVG draws a ladder: reply p99 and convergence p99 (ms, log scale:
// they span orders of magnitude) against the paced rate, as a standalone
// SVG document.
func LadderSVG(res LadderResult, title string) []byte {
	const (
		width, height            = 720, 420
		left, right, top, bottom = 70, 20, 50, 60
		plotW, plotH             = width - left - right, height - top - bottom
	)
	maxRate, lo, hi := 1.0, math.Inf(1), 0.0
	for _, s := range res.Steps {
		maxRate = max(maxRate, s.Rate, s.Throughput)
		for _, v := range []float64{s.ReplyP99, s.ConvP99} {
			if v > 0 {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
	}
	if hi == 0 {
		lo, hi = 0.1, 1
	}
	// Decades around the data.
	dlo, dhi := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if dhi <= dlo {
		dhi = dlo + 1
	}
	x := func(rate float64) float64 { return left + plotW*rate/maxRate }
	y := func(ms float64) float64 {
		return top + plotH*(1-(math.Log10(max(ms, math.Pow(10, dlo)))-dlo)/(dhi-dlo))
	}
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`, width, height, width, height)
	p(`<rect width="%d" height="%d" fill="white"/>`, width, height)
	p(`<text x="%d" y="24" font-size="15" text-anchor="middle">%s</text>`, width/2, html.EscapeString(title))
	// Grid and axes.
	for d := dlo; d <= dhi; d++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, d)
			if d == dhi && m > 1 {
				break
			}
			yy := y(v)
			p(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`, left, yy, left+plotW, yy)
			p(`<text x="%d" y="%.1f" text-anchor="end">%s</text>`, left-6, yy+4, trimFloat(v))
		}
	}
	step := niceStep(maxRate / 6)
	for r := 0.0; r <= maxRate; r += step {
		xx := x(r)
		p(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`, xx, top, xx, top+plotH)
		p(`<text x="%.1f" y="%d" text-anchor="middle">%s</text>`, xx, top+plotH+16, trimFloat(r))
	}
	p(`<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333"/>`, left, top, plotW, plotH)
	p(`<text x="%d" y="%d" text-anchor="middle">paced rate (IAMAT/s); saturated %.0f/s</text>`, left+plotW/2, height-18, res.Saturated.Throughput)
	p(`<text transform="translate(18 %d) rotate(-90)" text-anchor="middle">p99 (ms, log scale)</text>`, top+plotH/2)
	// Series.
	series := []struct {
		name, color string
		v           func(LadderStep) float64
	}{
		{"reply p99", "#1f77b4", func(s LadderStep) float64 { return s.ReplyP99 }},
		{"convergence p99 (" + string(res.ProbeVia) + ")", "#d62728", func(s LadderStep) float64 { return s.ConvP99 }},
	}
	for i, s := range series {
		var pts []string
		for _, st := range res.Steps {
			if v := s.v(st); v > 0 {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(st.Rate), y(v)))
			}
		}
		p(`<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`, s.color, strings.Join(pts, " "))
		for _, pt := range pts {
			xy := strings.Split(pt, ",")
			p(`<circle cx="%s" cy="%s" r="3" fill="%s"/>`, xy[0], xy[1], s.color)
		}
		ly := top + 14 + 16*i
		p(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/>`, left+12, ly, left+32, ly, s.color)
		p(`<text x="%d" y="%d">%s</text>`, left+38, ly+4, html.EscapeString(s.name))
	}
	p(`</svg>`)
	return []byte(b.String())
}

// niceStep rounds v up to 1, 2 or 5 times a power of ten.
func niceStep(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func trimFloat(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%gk", v/1000)
	}
	s := fmt.Sprintf("%g", v)
	return s
}
