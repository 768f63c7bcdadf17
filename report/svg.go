package report

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// Chart is one chart: categories along one axis, a series per colour.
// Each drawn value is a mark (class "mark") that carries its value, its
// series and its category as data attributes and a tooltip, so that a
// browser test can read back what was drawn.
//
// A chart is drawn at a given width (SVG(w)): the page draws each chart
// twice, wide and narrow, and shows the one that fits, so that its text
// is never scaled below a readable size. Text widths are estimated
// generously (charW per character) so that labels, ticks and legend
// entries never overlap; long labels wrap at words, and their full text is
// a tooltip.
type Chart struct {
	Kind string // "bars" (vertical, grouped), "hbars" (horizontal, grouped) or "lines"
	// Title names the chart for screen readers.
	Title string
	// Categories are the category keys; Labels what is shown for them
	// (nil: the keys).
	Categories, Labels []string
	Series             []Series
	// XLabel and YLabel name the axes with their units; for hbars the
	// value axis is X.
	XLabel, YLabel string
	// Legend is what each colour means (every colour in it is a mark's).
	Legend []Key
}

// Series is one kind of mark: a value per category (NaN: none).
type Series struct {
	Name   string
	Values []float64
	// Colour is every mark's colour, unless Colours gives one per value.
	Colour  string
	Colours []string
	// Dashed draws a line chart's series dashed; Tick draws an hbars
	// series as a thin bar across the row (a level, not an amount).
	Dashed, Tick bool
}

// Key is one legend entry: a box, a line (dashed or not) or a tick.
type Key struct {
	Name, Colour string
	Style        string // "box", "line", "dash" or "tick"
}

// Widths the page draws each chart at, and the text size: at the
// narrowest width the page shows a variant at (0.87 of it), text stays
// above 10 px.
const (
	WideWidth   = 600
	NarrowWidth = 340
	fontSize    = 12
	charW       = 0.68 * fontSize // a generous average glyph width
	lineH       = 15
)

// palette is colour-blind safe (Okabe–Ito without yellow and black, then
// more of the same lightness); a shop keeps its colour in every chart.
var palette = []string{"#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#7F3C8D", "#11A579", "#3969AC", "#E73F74"}

// levelColour draws levels (hbars ticks): dark, unlike any shop.
const levelColour = "#1d2330"

func textW(s string) float64 { return charW * float64(len([]rune(s))) }

func esc(s string) string { return html.EscapeString(s) }

// num is a value exactly, for data attributes and tooltips.
func num(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// short is a tick value, compactly: 950, 1.5k, 12k, 2.5M.
func short(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', -1, 64) + "M"
	case a >= 1e4:
		return strconv.FormatFloat(v/1e3, 'f', -1, 64) + "k"
	case a >= 1e3:
		return strconv.FormatFloat(math.Round(v/100)/10, 'f', -1, 64) + "k"
	}
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}

// ticks are round values from 0 to at least max, about n of them.
func ticks(max float64, n int) []float64 {
	if max <= 0 {
		return []float64{0, 1}
	}
	raw := max / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	for i := 0; ; i++ {
		v := step * float64(i)
		out = append(out, v)
		if v >= max {
			return out
		}
	}
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

// marks counts the values drawn.
func (c Chart) marks() int {
	n := 0
	for _, s := range c.Series {
		for _, v := range s.Values {
			if !math.IsNaN(v) {
				n++
			}
		}
	}
	return n
}

func (c Chart) label(i int) string {
	if c.Labels != nil {
		return c.Labels[i]
	}
	return c.Categories[i]
}

func (s Series) colour(i int) string {
	if s.Colours != nil {
		return s.Colours[i]
	}
	return s.Colour
}

// SVG draws the chart, w pixels wide.
func (c Chart) SVG(w int) string {
	var b strings.Builder
	if c.Kind == "hbars" {
		c.hbars(&b, w)
	} else {
		c.vertical(&b, w)
	}
	return b.String()
}

// legend draws the keys from y, wrapping at the width; it returns the
// height it took (b nil: only measures).
func (c Chart) legend(b *strings.Builder, y, w int) int {
	if len(c.Legend) == 0 {
		return 0
	}
	x, x0, y0 := 8.0, 8.0, y
	for _, k := range c.Legend {
		kw := 24 + textW(k.Name) + 14
		if x+kw > float64(w) && x > x0 {
			x, y = x0, y+lineH+4
		}
		if b != nil {
			switch k.Style {
			case "line", "dash":
				dash := ""
				if k.Style == "dash" {
					dash = ` stroke-dasharray="5 4"`
				}
				fmt.Fprintf(b, `<line class="key" x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="%s" stroke-width="2.5"%s data-colour="%s"/>`, x, x+18, y+6, y+6, k.Colour, dash, k.Colour)
			case "tick":
				fmt.Fprintf(b, `<rect class="key" x="%.1f" y="%d" width="3" height="13" fill="%s" data-colour="%s"/>`, x+7, y, k.Colour, k.Colour)
			default:
				fmt.Fprintf(b, `<rect class="key" x="%.1f" y="%d" width="12" height="12" fill="%s" data-colour="%s"/>`, x+3, y, k.Colour, k.Colour)
			}
			fmt.Fprintf(b, `<text class="legend" x="%.1f" y="%d">%s</text>`, x+24, y+11, esc(k.Name))
		}
		x += kw
	}
	return y - y0 + lineH + 4
}

func (c Chart) open(b *strings.Builder, w, h int) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`, w, h, w, h, esc(c.Title))
}

func mark(b *strings.Builder, shape string, s Series, cat string, v float64, colour string) {
	fmt.Fprintf(b, `<%s class="mark" fill="%s" data-series="%s" data-category="%s" data-value="%s"><title>%s, %s: %s</title></%s>`,
		shape, colour, esc(s.Name), esc(cat), num(v), esc(s.Name), esc(cat), num(v), strings.Fields(shape)[0])
}

// vertical draws grouped bars or lines, categories along X; the Y label
// sits above the plot, the X label below the category labels.
func (c Chart) vertical(b *strings.Builder, w int) {
	ts := ticks(c.maxValue(), 4)
	top := ts[len(ts)-1]
	padLeft := 12.0
	for _, t := range ts {
		padLeft = math.Max(padLeft, textW(short(t))+14)
	}
	const padTop, plotH = 30, 200
	plotW := float64(w) - padLeft - 14
	base := float64(padTop + plotH)
	legendY := padTop + plotH + 56
	h := legendY + c.legend(nil, 0, w) + 4
	c.open(b, w, h)
	y := func(v float64) float64 { return base - plotH*v/top }
	fmt.Fprintf(b, `<text class="axis-label" x="4" y="14">%s</text>`, esc(c.YLabel))
	for _, t := range ts {
		fmt.Fprintf(b, `<line class="grid" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/><text class="tick" x="%.1f" y="%.1f" text-anchor="end">%s<title>%s</title></text>`,
			padLeft, padLeft+plotW, y(t), y(t), padLeft-6, y(t)+4, short(t), num(t))
	}
	fmt.Fprintf(b, `<line class="axis" x1="%.1f" x2="%.1f" y1="%d" y2="%.1f"/><line class="axis" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/>`,
		padLeft, padLeft, padTop, base, padLeft, padLeft+plotW, base, base)
	n := len(c.Categories)
	band := plotW / float64(n)
	widest := 0.0
	for i := range c.Categories {
		widest = math.Max(widest, textW(c.label(i)))
	}
	every := max(1, int(math.Ceil((widest+10)/band)))
	for i := range c.Categories {
		if i%every != 0 {
			continue
		}
		cx := padLeft + band*(float64(i)+0.5)
		fmt.Fprintf(b, `<text class="tick" x="%.1f" y="%.1f" text-anchor="middle">%s<title>%s</title></text>`, cx, base+20, esc(c.label(i)), esc(c.label(i)))
	}
	fmt.Fprintf(b, `<text class="axis-label" x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, padLeft+plotW/2, base+42, esc(c.XLabel))
	if c.Kind == "lines" {
		for _, s := range c.Series {
			var path []string
			for i, v := range s.Values {
				if !math.IsNaN(v) {
					path = append(path, fmt.Sprintf("%.1f,%.1f", padLeft+band*(float64(i)+0.5), y(v)))
				}
			}
			dash := ""
			if s.Dashed {
				dash = ` stroke-dasharray="5 4"`
			}
			if len(path) > 1 {
				fmt.Fprintf(b, `<polyline class="line" fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`, s.Colour, dash, strings.Join(path, " "))
			}
			for i, v := range s.Values {
				if !math.IsNaN(v) {
					mark(b, fmt.Sprintf(`circle cx="%.1f" cy="%.1f" r="3.5"`, padLeft+band*(float64(i)+0.5), y(v)), s, c.label(i), v, s.colour(i))
				}
			}
		}
	} else {
		inner := band * 0.8 / float64(len(c.Series))
		for si, s := range c.Series {
			for i, v := range s.Values {
				if math.IsNaN(v) {
					continue
				}
				x := padLeft + band*float64(i) + band*0.1 + inner*float64(si)
				mark(b, fmt.Sprintf(`rect x="%.1f" y="%.1f" width="%.1f" height="%.1f"`, x, y(v), math.Max(inner-1, 1), math.Max(base-y(v), 0.5)), s, c.label(i), v, s.colour(i))
			}
		}
	}
	c.legend(b, legendY, w)
	b.WriteString(`</svg>`)
}

// wrap breaks a label into at most two lines of at most n characters, at
// spaces; what does not fit ends in "…" (the full label is the tooltip).
func wrap(s string, n int) []string {
	var lines []string
	cur := ""
	for _, word := range strings.Fields(s) {
		for len([]rune(word)) > n { // a word longer than a line is cut
			if cur != "" {
				lines, cur = append(lines, cur), ""
			}
			r := []rune(word)
			lines, word = append(lines, string(r[:n])), string(r[n:])
		}
		switch {
		case cur == "":
			cur = word
		case len([]rune(cur))+1+len([]rune(word)) <= n:
			cur += " " + word
		default:
			lines, cur = append(lines, cur), word
		}
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	if len(lines) > 2 {
		last := []rune(lines[1])
		if len(last) >= n {
			last = last[:n-1]
		}
		lines = []string{lines[0], string(last) + "…"}
	}
	return lines
}

// hbars draws grouped horizontal bars, categories down the Y axis with
// their labels wrapped on the left; Tick series are levels across a row.
func (c Chart) hbars(b *strings.Builder, w int) {
	labelW := 120.0
	if w >= WideWidth {
		labelW = 210
	}
	perLine := int((labelW - 10) / charW)
	bars := 0
	for _, s := range c.Series {
		if !s.Tick {
			bars++
		}
	}
	rowH := math.Max(2*lineH+8, float64(14*bars+10))
	const padTop = 26
	plotW := float64(w) - labelW - 28
	plotH := rowH * float64(len(c.Categories))
	base := padTop + plotH
	legendY := int(base) + 48
	h := legendY + c.legend(nil, 0, w) + 4
	c.open(b, w, h)
	ts := ticks(c.maxValue(), max(2, min(5, int(plotW/70))))
	top := ts[len(ts)-1]
	x := func(v float64) float64 { return labelW + plotW*v/top }
	fmt.Fprintf(b, `<text class="axis-label" x="4" y="14">%s</text>`, esc(c.YLabel))
	for _, t := range ts {
		fmt.Fprintf(b, `<line class="grid" x1="%.1f" x2="%.1f" y1="%d" y2="%.1f"/><text class="tick" x="%.1f" y="%.1f" text-anchor="middle">%s<title>%s</title></text>`,
			x(t), x(t), padTop, base, x(t), base+16, short(t), num(t))
	}
	fmt.Fprintf(b, `<line class="axis" x1="%.1f" x2="%.1f" y1="%d" y2="%.1f"/>`, labelW, labelW, padTop, base)
	fmt.Fprintf(b, `<text class="axis-label" x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, labelW+plotW/2, base+36, esc(c.XLabel))
	inner := (rowH - 8) / float64(max(bars, 1))
	for i := range c.Categories {
		y0 := padTop + rowH*float64(i)
		lines := wrap(c.label(i), perLine)
		ty := y0 + rowH/2 - float64(len(lines)-1)*lineH/2 + 4
		fmt.Fprintf(b, `<text class="tick" x="%.1f" y="%.1f" text-anchor="end"><title>%s</title>`, labelW-6, ty, esc(c.label(i)))
		for j, l := range lines {
			dy := 0
			if j > 0 {
				dy = lineH
			}
			fmt.Fprintf(b, `<tspan x="%.1f" dy="%d">%s</tspan>`, labelW-6, dy, esc(l))
		}
		b.WriteString(`</text>`)
		bar := 0
		for _, s := range c.Series {
			v := s.Values[i]
			if math.IsNaN(v) {
				if !s.Tick {
					bar++
				}
				continue
			}
			if s.Tick {
				mark(b, fmt.Sprintf(`rect x="%.1f" y="%.1f" width="3" height="%.1f"`, x(v)-1.5, y0+2, rowH-4), s, c.label(i), v, s.colour(i))
				continue
			}
			mark(b, fmt.Sprintf(`rect x="%.1f" y="%.1f" width="%.1f" height="%.1f"`, labelW, y0+4+inner*float64(bar), math.Max(x(v)-labelW, 0.5), math.Max(inner-1, 1)), s, c.label(i), v, s.colour(i))
			bar++
		}
	}
	c.legend(b, legendY, w)
	b.WriteString(`</svg>`)
}
