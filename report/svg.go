package report

import (
	"fmt"
	"html"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Chart is one chart: categories along one axis, a series per colour.
// Each drawn value is a mark (class "mark") that carries its value, its
// series and its category as data attributes and a tooltip, so that a
// browser test can read back what was drawn.
type Chart struct {
	Kind       string // "bars" (vertical, grouped), "hbars" (horizontal, grouped) or "lines"
	Title      string
	Categories []string
	Series     []Series
	// XLabel and YLabel name the axes with their units; for hbars the
	// value axis is X.
	XLabel, YLabel string
}

// Series is one colour: a value per category (NaN: none).
type Series struct {
	Name   string
	Values []float64
}

// palette is colour-blind safe (Okabe–Ito).
var palette = []string{"#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"}

const (
	width   = 760
	padLeft = 70
	padTop  = 16
	padBot  = 70
)

// SVG draws the chart as inline SVG.
func (c Chart) SVG() string {
	var b strings.Builder
	marks := 0
	for _, s := range c.Series {
		for _, v := range s.Values {
			if !math.IsNaN(v) {
				marks++
			}
		}
	}
	if marks == 0 {
		return `<p class="empty">No data in this period.</p>`
	}
	switch c.Kind {
	case "hbars":
		c.hbars(&b)
	default:
		c.vertical(&b)
	}
	return b.String()
}

func (c Chart) maxValue() float64 {
	m := 0.0
	for _, s := range c.Series {
		for _, v := range s.Values {
			if !math.IsNaN(v) && v > m {
				m = v
			}
		}
	}
	return m
}

// ticks are round values from 0 to at least max.
func ticks(max float64) []float64 {
	if max <= 0 {
		return []float64{0, 1}
	}
	raw := max / 4
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	for v := 0.0; v < max+step; v += step {
		out = append(out, v)
		if v >= max {
			break
		}
	}
	return out
}

func num(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

func esc(s string) string { return html.EscapeString(s) }

// legend draws the series' colours from y, wrapping; it returns the
// height it took.
func (c Chart) legend(b *strings.Builder, y int) int {
	x, y0 := padLeft, y
	for i, s := range c.Series {
		w := 24 + 7*len([]rune(s.Name))
		if x+w > width-10 && x > padLeft {
			x, y = padLeft, y+16
		}
		colour, dash := c.style(i)
		if b != nil {
			fmt.Fprintf(b, `<rect x="%d" y="%d" width="10" height="10" fill="%s"%s/><text x="%d" y="%d" class="legend">%s</text>`,
				x, y, colour, map[bool]string{true: ` fill-opacity=".45"`}[dash != ""], x+14, y+9, esc(s.Name))
		}
		x += w
	}
	return y - y0 + 16
}

// style is a series' colour and dash: in a line chart, "X median" and
// "X p90" share X's colour, the p90 dashed.
func (c Chart) style(i int) (colour, dash string) {
	if c.Kind != "lines" {
		return palette[i%len(palette)], ""
	}
	base := func(n string) string { return strings.TrimSuffix(strings.TrimSuffix(n, " median"), " p90") }
	var bases []string
	for _, s := range c.Series {
		if b := base(s.Name); !slices.Contains(bases, b) {
			bases = append(bases, b)
		}
	}
	name := c.Series[i].Name
	if strings.HasSuffix(name, " p90") {
		dash = "5 4"
	}
	return palette[slices.Index(bases, base(name))%len(palette)], dash
}

// vertical draws grouped bars or lines, categories along X.
func (c Chart) vertical(b *strings.Builder) {
	height := 320
	plotH := height - padTop - padBot
	plotW := width - padLeft - 20
	legendY := height + 4
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" role="img" aria-label="%s">`, width, height+8+c.legend(nil, 0), esc(c.Title))
	ts := ticks(c.maxValue())
	top := ts[len(ts)-1]
	y := func(v float64) float64 { return float64(padTop) + float64(plotH)*(1-v/top) }
	for _, t := range ts {
		fmt.Fprintf(b, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/><text class="tick" x="%d" y="%.1f" text-anchor="end">%s</text>`,
			padLeft, padLeft+plotW, y(t), y(t), padLeft-6, y(t)+4, num(t))
	}
	fmt.Fprintf(b, `<line class="axis" x1="%d" x2="%d" y1="%d" y2="%d"/><line class="axis" x1="%d" x2="%d" y1="%d" y2="%d"/>`,
		padLeft, padLeft, padTop, padTop+plotH, padLeft, padLeft+plotW, padTop+plotH, padTop+plotH)
	fmt.Fprintf(b, `<text class="axis-label" transform="translate(14 %d) rotate(-90)" text-anchor="middle">%s</text>`, padTop+plotH/2, esc(c.YLabel))
	fmt.Fprintf(b, `<text class="axis-label" x="%d" y="%d" text-anchor="middle">%s</text>`, padLeft+plotW/2, height-8, esc(c.XLabel))
	n := len(c.Categories)
	band := float64(plotW) / float64(n)
	for i, cat := range c.Categories {
		cx := float64(padLeft) + band*(float64(i)+0.5)
		fmt.Fprintf(b, `<text class="tick" x="%.1f" y="%d" text-anchor="end" transform="rotate(-35 %.1f %d)">%s</text>`, cx, padTop+plotH+14, cx, padTop+plotH+14, esc(cat))
	}
	switch c.Kind {
	case "lines":
		for si, s := range c.Series {
			colour, dash := c.style(si)
			var path []string
			for i, v := range s.Values {
				if math.IsNaN(v) {
					continue
				}
				cx := float64(padLeft) + band*(float64(i)+0.5)
				path = append(path, fmt.Sprintf("%.1f,%.1f", cx, y(v)))
			}
			if len(path) > 1 {
				fmt.Fprintf(b, `<polyline class="line" fill="none" stroke="%s" stroke-width="2" stroke-dasharray="%s" points="%s"/>`, colour, dash, strings.Join(path, " "))
			}
			for i, v := range s.Values {
				if math.IsNaN(v) {
					continue
				}
				cx := float64(padLeft) + band*(float64(i)+0.5)
				fmt.Fprintf(b, `<circle class="mark" cx="%.1f" cy="%.1f" r="4" fill="%s" data-series="%s" data-category="%s" data-value="%s"><title>%s, %s: %s</title></circle>`,
					cx, y(v), colour, esc(s.Name), esc(c.Categories[i]), num(v), esc(s.Name), esc(c.Categories[i]), num(v))
			}
		}
	default:
		inner := band * 0.8 / float64(len(c.Series))
		for si, s := range c.Series {
			colour := palette[si%len(palette)]
			for i, v := range s.Values {
				if math.IsNaN(v) {
					continue
				}
				x := float64(padLeft) + band*float64(i) + band*0.1 + inner*float64(si)
				fmt.Fprintf(b, `<rect class="mark" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" data-series="%s" data-category="%s" data-value="%s"><title>%s, %s: %s</title></rect>`,
					x, y(v), math.Max(inner-1, 1), float64(padTop+plotH)-y(v), colour, esc(s.Name), esc(c.Categories[i]), num(v), esc(s.Name), esc(c.Categories[i]), num(v))
			}
		}
	}
	c.legend(b, legendY)
	b.WriteString(`</svg>`)
}

// hbars draws grouped horizontal bars, categories down the Y axis.
func (c Chart) hbars(b *strings.Builder) {
	const labelW = 250
	rowH := 14 * len(c.Series)
	if rowH < 18 {
		rowH = 18
	}
	plotH := rowH * len(c.Categories)
	plotW := width - labelW - 30
	height := padTop + plotH + 44
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" role="img" aria-label="%s">`, width, height+8+c.legend(nil, 0), esc(c.Title))
	ts := ticks(c.maxValue())
	top := ts[len(ts)-1]
	x := func(v float64) float64 { return float64(labelW) + float64(plotW)*v/top }
	for _, t := range ts {
		fmt.Fprintf(b, `<line class="grid" x1="%.1f" x2="%.1f" y1="%d" y2="%d"/><text class="tick" x="%.1f" y="%d" text-anchor="middle">%s</text>`,
			x(t), x(t), padTop, padTop+plotH, x(t), padTop+plotH+14, num(t))
	}
	fmt.Fprintf(b, `<line class="axis" x1="%d" x2="%d" y1="%d" y2="%d"/>`, labelW, labelW, padTop, padTop+plotH)
	fmt.Fprintf(b, `<text class="axis-label" x="%d" y="%d" text-anchor="middle">%s</text>`, labelW+plotW/2, padTop+plotH+32, esc(c.XLabel))
	fmt.Fprintf(b, `<text class="axis-label" x="4" y="%d">%s</text>`, padTop-4, esc(c.YLabel))
	inner := float64(rowH) * 0.8 / float64(len(c.Series))
	for i, cat := range c.Categories {
		y0 := float64(padTop + rowH*i)
		fmt.Fprintf(b, `<text class="tick" x="%d" y="%.1f" text-anchor="end">%s</text>`, labelW-6, y0+float64(rowH)/2+4, esc(truncate(cat, 38)))
		for si, s := range c.Series {
			v := s.Values[i]
			if math.IsNaN(v) {
				continue
			}
			colour := palette[si%len(palette)]
			fmt.Fprintf(b, `<rect class="mark" x="%d" y="%.1f" width="%.1f" height="%.1f" fill="%s" data-series="%s" data-category="%s" data-value="%s"><title>%s, %s: %s</title></rect>`,
				labelW, y0+float64(rowH)*0.1+inner*float64(si), math.Max(x(v)-float64(labelW), 0.5), math.Max(inner-1, 1), colour, esc(s.Name), esc(cat), num(v), esc(s.Name), esc(cat), num(v))
		}
	}
	c.legend(b, height+4)
	b.WriteString(`</svg>`)
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
