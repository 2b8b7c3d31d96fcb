//! Chart primitives for `report.html`: inline SVG line and bar charts on linear, log10 and
//! percentile-tail ("1/(1-q)") scales, with readable ticks and native hover tooltips
//! (`<title>`, no script). Everything is drawn in one 640×240 view box the page scales.

use std::fmt::Write;

use crate::units::format_us;

/// The view box width of a chart in a half-width card (`Chart::width` widens it).
pub(crate) const W: f64 = 640.0;
const H: f64 = 240.0;
const LEFT: f64 = 58.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 30.0;

/// `s` with the five HTML-special characters escaped (text and attribute values alike).
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// How data values map onto an axis.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Scale {
    Linear,
    /// log10 of the value (values must be positive).
    Log,
    /// A quantile `q` in [0, 1) drawn at log10(1/(1-q)): 90%, 99%, 99.9% equally spaced.
    Tail,
}

impl Scale {
    fn f(self, v: f64) -> f64 {
        match self {
            Scale::Linear => v,
            Scale::Log => v.max(1e-9).log10(),
            Scale::Tail => -(1.0 - v).max(1e-9).log10(),
        }
    }
}

/// One axis: scale, data range and labelled ticks (data units).
#[derive(Clone, Debug)]
pub(crate) struct Axis {
    pub scale: Scale,
    pub min: f64,
    pub max: f64,
    pub ticks: Vec<(f64, String)>,
}

impl Axis {
    fn pos(&self, v: f64, from: f64, to: f64) -> f64 {
        let (a, b) = (self.scale.f(self.min), self.scale.f(self.max));
        let span = if (b - a).abs() < 1e-12 { 1.0 } else { b - a };
        from + (self.scale.f(v) - a) / span * (to - from)
    }
}

/// A 1-2-5 step near `raw` (raw > 0).
fn nice_step(raw: f64) -> f64 {
    let mag = 10f64.powf(raw.log10().floor());
    let r = raw / mag;
    mag * if r <= 1.0 {
        1.0
    } else if r <= 2.0 {
        2.0
    } else if r <= 2.5 {
        2.5
    } else if r <= 5.0 {
        5.0
    } else {
        10.0
    }
}

/// A linear axis from 0 to at least `max` with about five round ticks labelled by `fmt`.
pub(crate) fn linear_axis(max: f64, fmt: fn(f64) -> String) -> Axis {
    let max = if max.is_finite() && max > 0.0 { max } else { 1.0 };
    axis_with_step(max, nice_step(max / 5.0), fmt)
}

/// A linear axis of whole counts (ticks never fall between integers).
pub(crate) fn count_axis(max: f64) -> Axis {
    let max = if max.is_finite() && max > 0.0 { max } else { 1.0 };
    let step = nice_step(max / 5.0).max(1.0);
    // 2.5 is a round step but not a whole one.
    axis_with_step(max, if step.fract() == 0.0 { step } else { step * 2.0 }, count_label)
}

fn axis_with_step(max: f64, step: f64, fmt: fn(f64) -> String) -> Axis {
    let n = (max / step - 1e-9).ceil().max(1.0) as usize;
    let ticks = (0..=n).map(|i| i as f64 * step).map(|v| (v, fmt(v))).collect();
    Axis { scale: Scale::Linear, min: 0.0, max: n as f64 * step, ticks }
}

/// Microseconds as a tick label (`0`, `250ms`, `1.5s`).
pub(crate) fn time_label(us: f64) -> String {
    if us <= 0.0 {
        "0".into()
    } else {
        format_us(us)
    }
}

/// A count as a short tick label (`12`, `2.5`, `1.5k`, `3M`).
pub(crate) fn count_label(v: f64) -> String {
    let trim = |x: f64, unit: &str| {
        let s = format!("{x:.2}");
        format!("{}{unit}", s.trim_end_matches('0').trim_end_matches('.'))
    };
    if v.abs() >= 1e6 {
        trim(v / 1e6, "M")
    } else if v.abs() >= 1e3 {
        trim(v / 1e3, "k")
    } else {
        trim(v, "")
    }
}

/// Seconds as a tick label (`45s`, `2m`, `2m30s`).
pub(crate) fn secs_label(s: f64) -> String {
    let s = s.round() as u64;
    match (s / 60, s % 60) {
        (0, sec) => format!("{sec}s"),
        (m, 0) => format!("{m}m"),
        (m, sec) => format!("{m}m{sec}s"),
    }
}

/// A time axis in seconds from 0 to `max`, ticked on round clock steps.
pub(crate) fn seconds_axis(max: f64) -> Axis {
    let max = if max.is_finite() && max > 0.0 { max } else { 1.0 };
    const STEPS: [f64; 14] = [1., 2., 5., 10., 15., 30., 60., 120., 300., 600., 900., 1800., 3600., 7200.];
    let step = STEPS.iter().copied().find(|s| max / s <= 8.0).unwrap_or((max / 8.0 / 3600.0).ceil() * 3600.0);
    let n = (max / step + 1e-9).floor() as usize;
    let ticks = (0..=n).map(|i| i as f64 * step).map(|v| (v, secs_label(v))).collect();
    Axis { scale: Scale::Linear, min: 0.0, max, ticks }
}

/// A log axis of microseconds over [lo, hi], ticked at 1-2-5 decades (only 1× when crowded).
pub(crate) fn log_time_axis(lo: f64, hi: f64) -> Axis {
    let lo = lo.max(1.0);
    let hi = hi.max(lo * 1.5);
    let mut ticks = Vec::new();
    let mut all = Vec::new();
    for e in (lo.log10().floor() as i32)..=(hi.log10().ceil() as i32) {
        for m in [1.0, 2.0, 5.0] {
            let v = m * 10f64.powi(e);
            if v >= lo * 0.999 && v <= hi * 1.001 {
                all.push((v, m == 1.0));
            }
        }
    }
    let crowded = all.len() > 9;
    for (v, decade) in all {
        if decade || !crowded {
            ticks.push((v, format_us(v)));
        }
    }
    Axis { scale: Scale::Log, min: lo, max: hi, ticks }
}

/// The percentile axis of a latency spectrum: 0% to 99.99% on the tail scale.
pub(crate) fn tail_axis() -> Axis {
    let ticks = [(0.0, "0%"), (0.9, "90%"), (0.99, "99%"), (0.999, "99.9%"), (0.9999, "99.99%")];
    Axis { scale: Scale::Tail, min: 0.0, max: 0.9999, ticks: ticks.map(|(q, l)| (q, l.to_string())).to_vec() }
}

/// A line; `None` breaks it (no sample).
pub(crate) struct Series {
    pub name: String,
    pub color: &'static str,
    pub dashed: bool,
    /// Drawn wide and pale, under the lines that follow (e.g. sent under ok).
    pub wide: bool,
    pub points: Vec<(f64, Option<f64>)>,
}

/// A labelled span of the x axis (a stage), shaded on alternate spans.
pub(crate) struct Band {
    pub x0: f64,
    pub x1: f64,
    pub label: String,
}

/// A bar from x0 to x1 with height y and a tooltip.
pub(crate) struct Bar {
    pub x0: f64,
    pub x1: f64,
    pub y: f64,
    pub title: String,
}

/// A vertical marker line (e.g. p50) with a label.
pub(crate) struct Mark {
    pub x: f64,
    pub label: String,
    pub color: &'static str,
}

/// Everything one chart shows.
pub(crate) struct Chart {
    pub label: String,
    /// View box width: [`W`] for a half-width card, about twice that for a full-width one.
    pub width: f64,
    pub x: Axis,
    pub y: Axis,
    pub series: Vec<Series>,
    pub bars: Vec<Bar>,
    pub bar_color: &'static str,
    pub bands: Vec<Band>,
    pub marks: Vec<Mark>,
    /// Tooltip strips: x from, x to, text.
    pub hovers: Vec<(f64, f64, String)>,
}

impl Chart {
    pub(crate) fn new(label: &str, x: Axis, y: Axis) -> Chart {
        Chart {
            label: label.to_string(),
            width: W,
            x,
            y,
            series: Vec::new(),
            bars: Vec::new(),
            bar_color: "#4c78a8",
            bands: Vec::new(),
            marks: Vec::new(),
            hovers: Vec::new(),
        }
    }

    fn px(&self, v: f64) -> f64 {
        self.x.pos(v, LEFT, self.width - RIGHT).clamp(LEFT, self.width - RIGHT)
    }

    fn py(&self, v: f64) -> f64 {
        self.y.pos(v, H - BOTTOM, TOP).clamp(TOP, H - BOTTOM)
    }

    fn has_data(&self) -> bool {
        !self.bars.is_empty() || self.series.iter().any(|s| s.points.iter().any(|p| p.1.is_some()))
    }

    /// The chart as one `<svg>` element (a "no data" placeholder when there is nothing to draw).
    pub(crate) fn render(&self) -> String {
        let mut o = String::with_capacity(8192);
        let _ = write!(
            o,
            r#"<svg class="chart" viewBox="0 0 {} {H}" role="img" aria-label="{}">"#,
            self.width,
            esc(&self.label)
        );
        let (x0, x1, y0, y1) = (LEFT, self.width - RIGHT, TOP, H - BOTTOM);
        if !self.has_data() {
            let _ = write!(
                o,
                r#"<rect class="frame" x="{x0}" y="{y0}" width="{}" height="{}"/><text class="empty" x="{:.1}" y="{:.1}">no data</text></svg>"#,
                x1 - x0,
                y1 - y0,
                (x0 + x1) / 2.0,
                (y0 + y1) / 2.0
            );
            return o;
        }
        for (i, b) in self.bands.iter().enumerate() {
            let (a, z) = (self.px(b.x0), self.px(b.x1));
            if i % 2 == 1 {
                let _ = write!(
                    o,
                    r#"<rect class="band" x="{a:.1}" y="{y0}" width="{:.1}" height="{}"/>"#,
                    z - a,
                    y1 - y0
                );
            }
            if i > 0 {
                let _ = write!(o, r#"<line class="stage" x1="{a:.1}" x2="{a:.1}" y1="{y0}" y2="{y1}"/>"#);
            }
            if z - a > 34.0 {
                let _ = write!(
                    o,
                    r#"<text class="bandlabel" x="{:.1}" y="{:.1}">{}</text>"#,
                    a + 4.0,
                    y0 + 11.0,
                    esc(&b.label)
                );
            }
        }
        for (v, label) in &self.y.ticks {
            let y = self.py(*v);
            let _ = write!(
                o,
                r#"<line class="gridline" x1="{x0}" x2="{x1}" y1="{y:.1}" y2="{y:.1}"/><text class="ytick" x="{:.1}" y="{:.1}">{}</text>"#,
                x0 - 6.0,
                y + 3.5,
                esc(label)
            );
        }
        for (v, label) in &self.x.ticks {
            let x = self.px(*v);
            let anchor = if x > x1 - 12.0 { " end" } else { "" };
            let _ = write!(
                o,
                r#"<line class="tick" x1="{x:.1}" x2="{x:.1}" y1="{y1}" y2="{:.1}"/><text class="xtick{anchor}" x="{x:.1}" y="{:.1}">{}</text>"#,
                y1 + 4.0,
                y1 + 16.0,
                esc(label)
            );
        }
        let _ = write!(o, r#"<line class="axis" x1="{x0}" x2="{x1}" y1="{y1}" y2="{y1}"/>"#);
        for b in &self.bars {
            let (a, z, top) = (self.px(b.x0), self.px(b.x1), self.py(b.y));
            let _ = write!(
                o,
                r#"<rect class="bar" fill="{}" x="{:.1}" y="{top:.1}" width="{:.1}" height="{:.1}"><title>{}</title></rect>"#,
                self.bar_color,
                a + 0.5,
                (z - a - 1.0).max(0.5),
                y1 - top,
                esc(&b.title)
            );
        }
        for s in &self.series {
            self.line(&mut o, s);
        }
        for (i, m) in self.marks.iter().enumerate() {
            let x = self.px(m.x);
            let (tx, anchor) = if x > x0 + (x1 - x0) * 0.7 { (x - 4.0, " end") } else { (x + 4.0, "") };
            let _ = write!(
                o,
                r#"<line class="mark" stroke="{c}" x1="{x:.1}" x2="{x:.1}" y1="{y0}" y2="{y1}"/><text class="marklabel{anchor}" fill="{c}" x="{tx:.1}" y="{:.1}">{}</text>"#,
                y0 + 10.0 + 12.0 * i as f64,
                esc(&m.label),
                c = m.color
            );
        }
        for (a, z, text) in &self.hovers {
            let (a, z) = (self.px(*a), self.px(*z));
            if z > a {
                let _ = write!(
                    o,
                    r#"<rect class="hv" x="{a:.1}" y="{y0}" width="{:.1}" height="{}"><title>{}</title></rect>"#,
                    z - a,
                    y1 - y0,
                    esc(text)
                );
            }
        }
        o.push_str("</svg>");
        o
    }

    fn line(&self, o: &mut String, s: &Series) {
        let mut d = String::new();
        let mut run: Vec<(f64, f64)> = Vec::new();
        let mut flush = |run: &mut Vec<(f64, f64)>, d: &mut String| {
            if run.len() == 1 {
                let (x, y) = run[0];
                let _ = write!(o, r#"<circle fill="{}" cx="{x:.1}" cy="{y:.1}" r="2"/>"#, s.color);
            } else {
                for (i, (x, y)) in run.iter().enumerate() {
                    let _ = write!(d, "{}{x:.1} {y:.1}", if i == 0 { "M" } else { "L" });
                }
            }
            run.clear();
        };
        for &(x, y) in &s.points {
            match y {
                Some(y) => run.push((self.px(x), self.py(y))),
                None => flush(&mut run, &mut d),
            }
        }
        flush(&mut run, &mut d);
        if !d.is_empty() {
            let _ = write!(
                o,
                r#"<path class="line{}" stroke="{}" d="{d}"><title>{}</title></path>"#,
                match (s.dashed, s.wide) {
                    (true, _) => " dashed",
                    (false, true) => " wide",
                    _ => "",
                },
                s.color,
                esc(&s.name)
            );
        }
    }
}

/// Log-spaced bins over [lo, hi]: about 8 to 20 per decade, 12 to 60 in all.
pub(crate) fn log_bins(lo: f64, hi: f64) -> Vec<(f64, f64)> {
    let (a, b) = (lo.max(1.0).log10(), hi.max(lo.max(1.0) * 1.2).log10());
    let per_decade = (40.0 / (b - a)).clamp(8.0, 20.0);
    let (a, b) = ((a * per_decade).floor() / per_decade, (b * per_decade).ceil() / per_decade);
    let n = (((b - a) * per_decade).round() as usize).clamp(1, 80);
    let step = (b - a) / n as f64;
    (0..n).map(|i| (10f64.powf(a + i as f64 * step), 10f64.powf(a + (i + 1) as f64 * step))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(esc(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }

    #[test]
    fn axes_have_round_ticks_with_units() {
        let a = linear_axis(437_000.0, time_label);
        let labels: Vec<&str> = a.ticks.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(labels, ["0", "100ms", "200ms", "300ms", "400ms", "500ms"]);
        assert!(a.max >= 437_000.0);
        let s = seconds_axis(30.5);
        assert_eq!(s.ticks.last().unwrap().1, "30s");
        assert_eq!(secs_label(150.0), "2m30s");
        let l = log_time_axis(900.0, 120_000.0);
        assert!(l.ticks.iter().any(|t| t.1 == "10ms"), "{:?}", l.ticks);
        assert_eq!(count_label(1500.0), "1.5k");
        let c = count_axis(0.0);
        assert_eq!(c.ticks.iter().map(|t| t.1.as_str()).collect::<Vec<_>>(), ["0", "1"]);
        let c = count_axis(12.0);
        assert!(c.ticks.iter().all(|t| t.0.fract() == 0.0), "{:?}", c.ticks);
        assert_eq!(tail_axis().ticks.len(), 5);
    }

    #[test]
    fn bins_cover_the_range_in_order() {
        let bins = log_bins(80.0, 450_000.0);
        assert!(bins.len() >= 12 && bins.len() <= 80, "{}", bins.len());
        assert!(bins[0].0 <= 80.0 && bins.last().unwrap().1 >= 450_000.0);
        assert!(bins.windows(2).all(|w| (w[0].1 - w[1].0).abs() < 1e-6 * w[1].0));
        assert!(!log_bins(5.0, 5.0).is_empty());
    }

    #[test]
    fn empty_and_broken_series_render() {
        let c = Chart::new("empty", seconds_axis(0.0), linear_axis(0.0, count_label));
        assert!(c.render().contains("no data"));
        let mut c = Chart::new("gaps", seconds_axis(3.0), linear_axis(10.0, count_label));
        c.series.push(Series {
            name: "s".into(),
            color: "#000",
            dashed: false,
            wide: false,
            points: vec![(0.0, Some(1.0)), (1.0, None), (2.0, Some(3.0)), (3.0, Some(4.0))],
        });
        let svg = c.render();
        assert_eq!(svg.matches("<circle").count(), 1, "{svg}");
        assert_eq!(svg.matches("<path").count(), 1, "{svg}");
    }
}
