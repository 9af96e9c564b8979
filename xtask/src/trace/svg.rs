//! A self-contained SVG timeline: a lane per CPU, a colour per process (with a legend), red
//! marks for IRQs and alarms, purple for POSTs, a grey line from each CALL to its RETURN, and a time axis. Hovering a bar shows the
//! process and its span (SVG `<title>`).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt::Write;

use tessera_abi::trace::Kind;
use tessera_abi::{InvocationKind, MessageInfo};

use super::timeline::Timeline;

const WIDTH: f64 = 1200.0;
const LEFT: f64 = 70.0;
const LANE: f64 = 34.0;
const TOP: f64 = 30.0;
const COLOURS: [&str; 12] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#edc948", "#76b7b2", "#ff9da7", "#9c755f",
    "#bab0ac", "#86bcb6", "#d37295", "#a0cbe8",
];

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `secs` in the unit that suits it.
fn duration(secs: f64) -> String {
    if secs >= 1.0 {
        format!("{secs:.2} s")
    } else if secs >= 1e-3 {
        format!("{:.1} ms", secs * 1e3)
    } else {
        format!("{:.1} µs", secs * 1e6)
    }
}

pub fn render(t: &Timeline) -> String {
    let span = (t.end - t.start).max(1) as f64;
    let hz = t.tsc_hz.max(1) as f64;
    let plot = WIDTH - LEFT - 10.0;
    let x = |tsc: u64| LEFT + (tsc - t.start) as f64 / span * plot;
    let pids: BTreeSet<u32> = t
        .lanes
        .iter()
        .flat_map(|l| l.runs.iter().map(|r| r.pid))
        .collect();
    let colour =
        |pid: u32| COLOURS[pids.iter().position(|&p| p == pid).unwrap_or(0) % COLOURS.len()];
    let lanes_bottom = TOP + LANE * t.lanes.len() as f64;
    let legend_rows = pids.len().div_ceil(6);
    let height = lanes_bottom + 40.0 + 18.0 * legend_rows as f64 + 10.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="16" font-size="13">Tessera trace: {}, {} CPU(s); red: IRQ or alarm, purple: POST, grey lines: CALL→RETURN; idle is blank</text>"#,
        duration(span / hz),
        t.lanes.len()
    );
    for (i, lane) in t.lanes.iter().enumerate() {
        let y = TOP + LANE * i as f64;
        let _ = writeln!(
            s,
            r##"<text x="4" y="{}">CPU {}</text>"##,
            y + LANE / 2.0 + 4.0,
            lane.cpu
        );
        let _ = writeln!(
            s,
            r##"<rect x="{LEFT}" y="{}" width="{plot}" height="{}" fill="#f4f4f4"/>"##,
            y + 2.0,
            LANE - 4.0
        );
        // One colour per pixel column, the process that ran longest in it, and one bar per
        // stretch of columns of one process: the picture stays small however long the trace.
        let columns = plot as usize;
        let mut busy: Vec<HashMap<u32, u64>> = vec![HashMap::new(); columns];
        let col_of =
            |tsc: u64| (((tsc - t.start) as f64 / span * columns as f64) as usize).min(columns - 1);
        let col_start = |c: usize| t.start + (span * c as f64 / columns as f64) as u64;
        for r in &lane.runs {
            let (c0, c1) = (col_of(r.start), col_of(r.end));
            for (c, column) in busy.iter_mut().enumerate().take(c1 + 1).skip(c0) {
                let from = r.start.max(col_start(c));
                let to = r.end.min(col_start(c + 1)).max(from);
                *column.entry(r.pid).or_default() += (to - from).max(1);
            }
        }
        let top: Vec<Option<u32>> = busy
            .iter()
            .map(|m| {
                m.iter()
                    .max_by_key(|(p, t)| (**t, u32::MAX - **p))
                    .map(|(p, _)| *p)
            })
            .collect();
        let mut c = 0;
        while c < columns {
            let Some(pid) = top[c] else {
                c += 1;
                continue;
            };
            let first = c;
            while c < columns && top[c] == Some(pid) {
                c += 1;
            }
            let (x0, x1) = (LEFT + first as f64, LEFT + c as f64);
            let label = escape(&t.label(pid));
            let _ = writeln!(
                s,
                r#"<rect x="{x0:.2}" y="{}" width="{:.2}" height="{}" fill="{}"><title>{label}</title></rect>"#,
                y + 6.0,
                x1 - x0,
                LANE - 12.0,
                colour(pid),
            );
        }
        let mut marked = HashSet::new();
        for m in &lane.marks {
            let post = m.rec.kind == Kind::PostQueued
                || (m.rec.kind == Kind::Delivered
                    && MessageInfo::unpack(m.rec.a)
                        .is_some_and(|i| i.kind == InvocationKind::Post));
            let fill = match m.rec.kind {
                Kind::IrqNoted | Kind::IrqPosted | Kind::AlarmFired => "#d62728",
                _ if post => "#7b3294",
                _ => continue,
            };
            if !marked.insert(((x(m.ts) * 2.0) as i64, fill)) {
                continue;
            }
            let (top, h) = if fill == "#d62728" {
                (y + 2.0, 6.0)
            } else {
                (y + LANE - 8.0, 6.0)
            };
            let _ = writeln!(
                s,
                r#"<rect x="{:.2}" y="{top}" width="1.2" height="{h}" fill="{fill}"/>"#,
                x(m.ts)
            );
        }
    }
    let mut drawn = HashSet::new();
    for c in &t.calls {
        if let super::timeline::CallEnd::Reply { cpu, ts, .. } = c.end {
            if !drawn.insert((x(c.ts) as i64, c.cpu, x(ts) as i64, cpu)) {
                continue;
            }
            let lane_y = |cpu: u8| {
                TOP + LANE * t.lanes.iter().position(|l| l.cpu == cpu).unwrap_or(0) as f64
                    + LANE / 2.0
            };
            let _ = writeln!(
                s,
                r##"<line x1="{:.2}" y1="{:.1}" x2="{:.2}" y2="{:.1}" stroke="#555" stroke-width="0.6" stroke-opacity="0.7"/>"##,
                x(c.ts),
                lane_y(c.cpu),
                x(ts),
                lane_y(cpu)
            );
        }
    }
    let _ = writeln!(
        s,
        r##"<line x1="{LEFT}" y1="{lanes_bottom}" x2="{}" y2="{lanes_bottom}" stroke="#000"/>"##,
        LEFT + plot
    );
    for i in 0..=10 {
        let tx = LEFT + plot * i as f64 / 10.0;
        let at = duration(span * i as f64 / 10.0 / hz);
        let _ = writeln!(
            s,
            r##"<line x1="{tx:.1}" y1="{lanes_bottom}" x2="{tx:.1}" y2="{}" stroke="#000"/>"##,
            lanes_bottom + 4.0
        );
        let _ = writeln!(
            s,
            r#"<text x="{tx:.1}" y="{}" text-anchor="middle">{at}</text>"#,
            lanes_bottom + 16.0
        );
    }
    for (i, pid) in pids.iter().enumerate() {
        let lx = LEFT + (i % 6) as f64 * 180.0;
        let ly = lanes_bottom + 30.0 + 18.0 * (i / 6) as f64;
        let _ = writeln!(
            s,
            r#"<rect x="{lx}" y="{}" width="12" height="12" fill="{}"/>"#,
            ly - 10.0,
            colour(*pid)
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{ly}">{}</text>"#,
            lx + 16.0,
            escape(&t.label(*pid))
        );
    }
    s.push_str("</svg>\n");
    s
}
