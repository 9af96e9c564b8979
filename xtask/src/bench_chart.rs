//! The benchmark figures as a self-contained SVG bar chart: one bar per benchmark, with the
//! reference points `cargo xtask bench` prints (seL4's call+reply, Linux's futex round trip)
//! as labelled lines across the bars, so the gap shows at a glance.

use std::fmt::Write;

/// (label, instructions) of the reference lines.
pub const REFERENCES: [(&str, f64); 3] = [
    ("seL4 call+reply, fast path: 415", 415.0),
    ("seL4 call+reply, slow path: 1,406", 1406.0),
    ("Linux 6.1 futex ping-pong round trip: ~9,900", 9900.0),
];

const WIDTH: f64 = 900.0;
const LEFT: f64 = 150.0;
const BAR: f64 = 22.0;
const TOP: f64 = 40.0;

/// `bars`: (benchmark, instructions per operation).
pub fn render(bars: &[(String, f64)]) -> String {
    let max = bars
        .iter()
        .map(|b| b.1)
        .chain(REFERENCES.iter().map(|r| r.1))
        .fold(1.0, f64::max)
        * 1.08;
    let plot = WIDTH - LEFT - 20.0;
    let x = |v: f64| LEFT + v / max * plot;
    let bottom = TOP + BAR * bars.len() as f64;
    let height = bottom + 30.0 + 16.0 * REFERENCES.len() as f64;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="20" font-size="14">Tessera benchmarks: guest instructions per operation (-icount shift=0)</text>"#
    );
    for (i, (name, v)) in bars.iter().enumerate() {
        let y = TOP + BAR * i as f64;
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end">{name}</text>"#,
            LEFT - 6.0,
            y + BAR / 2.0 + 4.0
        );
        let _ = writeln!(
            s,
            r##"<rect x="{LEFT}" y="{}" width="{:.1}" height="{}" fill="#4e79a7"/>"##,
            y + 3.0,
            x(*v) - LEFT,
            BAR - 6.0
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{}">{v}</text>"#,
            x(*v) + 4.0,
            y + BAR / 2.0 + 4.0
        );
    }
    let colours = ["#59a14f", "#edc948", "#e15759"];
    for (i, ((label, v), colour)) in REFERENCES.iter().zip(colours).enumerate() {
        let _ = writeln!(
            s,
            r#"<line x1="{:.1}" y1="{}" x2="{:.1}" y2="{bottom}" stroke="{colour}" stroke-width="2" stroke-dasharray="5,3"/>"#,
            x(*v),
            TOP - 4.0,
            x(*v)
        );
        let ly = bottom + 22.0 + 16.0 * i as f64;
        let _ = writeln!(
            s,
            r#"<line x1="{LEFT}" y1="{}" x2="{}" y2="{}" stroke="{colour}" stroke-width="2" stroke-dasharray="5,3"/>"#,
            ly - 4.0,
            LEFT + 24.0,
            ly - 4.0
        );
        let _ = writeln!(s, r#"<text x="{}" y="{ly}">{label}</text>"#, LEFT + 30.0);
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bar_and_reference_is_drawn_to_scale() {
        let svg = render(&[
            ("null_invocation".into(), 1099.2),
            ("call_return".into(), 2228.0),
        ]);
        assert!(svg.contains(">null_invocation<") && svg.contains(">call_return<"));
        assert!(svg.contains("seL4 call+reply, fast path") && svg.contains("futex"));
        assert_eq!(svg.matches("fill=\"#4e79a7\"").count(), 2);
        // 9,900 is the largest value: its line sits at 1/1.08 of the plot.
        let plot = WIDTH - LEFT - 20.0;
        assert!(svg.contains(&format!("x1=\"{:.1}\"", LEFT + plot / 1.08)));
    }
}
