//! The HTML report: one self-contained file (inline SVG and CSS, no script, no network)
//! with the summary, the HDR percentile spectrum on a log scale, and answers and p99 per
//! second.

use super::Report;
use std::fmt::Write;

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 300.0;
const MARGIN: f64 = 56.0;

/// The report as an HTML document.
pub fn render(report: &Report) -> String {
    let mut html = String::with_capacity(32 * 1024);
    let title = format!(
        "loadtest: {} → {}",
        escape(&report.scenario),
        escape(&report.target)
    );
    let _ = write!(
        html,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body{{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:820px;color:#1d2733}}
h1{{font-size:20px}} h2{{font-size:16px;margin-top:28px}}
table{{border-collapse:collapse}} td,th{{padding:3px 10px;border-bottom:1px solid #dde3ea;text-align:right}}
th{{text-align:left;font-weight:600}} .warn{{color:#b3261e;font-weight:600}}
svg text{{font:11px system-ui,sans-serif;fill:#44505c}} .axis{{stroke:#8a96a3}} .grid{{stroke:#e6ebf0}}
</style></head><body><h1>{title}</h1>"#
    );
    summary(&mut html, report);
    html.push_str("<h2>Latency by percentile (HDR percentile spectrum)</h2>");
    spectrum_svg(&mut html, report);
    html.push_str("<h2>Answers and p99 per second</h2>");
    timeline_svg(&mut html, report);
    html.push_str("</body></html>\n");
    html
}

fn summary(html: &mut String, report: &Report) {
    let ms = |us: u64| format!("{:.3}", us as f64 / 1e3);
    let l = &report.latency_us;
    let _ = write!(
        html,
        "<table><tr><th>target rate</th><td>{:.0}/s</td><th>achieved</th><td>{:.1}/s</td></tr>\
         <tr><th>measured</th><td>{:.0} s (+{:.0} s warm-up)</td><th>connections</th><td>{}</td></tr>\
         <tr><th>requests</th><td>{}</td><th>errors</th><td>{}</td></tr>\
         <tr><th>fill rate</th><td>{:.1}%</td><th>average price</th><td>{}</td></tr>\
         <tr><th>p50 / p90 ms</th><td>{} / {}</td><th>p99 / p99.9 ms</th><td>{} / {}</td></tr>\
         <tr><th>p99.99 ms</th><td>{}</td><th>max ms</th><td>{}</td></tr></table>",
        report.target_rate,
        report.achieved_rate,
        report.duration_s,
        report.warmup_s,
        report.connections,
        report.requests,
        report.errors,
        report.fill_rate * 100.0,
        report.avg_price.map_or("-".to_owned(), |p| format!("{p:.4}")),
        ms(l.p50),
        ms(l.p90),
        ms(l.p99),
        ms(l.p999),
        ms(l.p9999),
        ms(l.max),
    );
    if !report.generator.kept_up {
        html.push_str("<p class=\"warn\">The generator could not keep the target rate (release lag p99 over 1 ms): the figures understate the load asked for.</p>");
    }
    if report.interrupted {
        html.push_str("<p class=\"warn\">Interrupted: the run was stopped early.</p>");
    }
}

/// x = log10(1 / (1 − p)): 90% → 1, 99% → 2, 99.9% → 3.
fn percentile_x(percentile: f64) -> f64 {
    let tail = (1.0 - percentile / 100.0).max(1e-6);
    (1.0 / tail).log10()
}

fn spectrum_svg(html: &mut String, report: &Report) {
    let points = &report.spectrum;
    let _ = write!(
        html,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="latency percentile spectrum">"#
    );
    if points.is_empty() {
        html.push_str("<text x=\"20\" y=\"40\">no answers</text></svg>");
        return;
    }
    // At least to 99.99%, at most to 99.9999%: the axis grows with the run's length.
    let x_max = points
        .iter()
        .map(|(p, _)| percentile_x(*p))
        .fold(1.0, f64::max)
        .clamp(4.0, 6.0);
    let y_max = points
        .iter()
        .map(|(_, us)| *us as f64 / 1e3)
        .fold(0.0, f64::max)
        .max(0.001)
        * 1.1;
    let plot_w = WIDTH - 2.0 * MARGIN;
    let plot_h = HEIGHT - 2.0 * MARGIN;
    let x = |v: f64| MARGIN + v.min(x_max) / x_max * plot_w;
    let y = |ms: f64| HEIGHT - MARGIN - ms / y_max * plot_h;
    for (label, p) in [
        ("0%", 0.0),
        ("90%", 90.0),
        ("99%", 99.0),
        ("99.9%", 99.9),
        ("99.99%", 99.99),
        ("99.999%", 99.999),
    ] {
        let px = x(percentile_x(p));
        if percentile_x(p) > x_max + 1e-9 {
            continue;
        }
        let _ = write!(
            html,
            r#"<line class="grid" x1="{px:.1}" y1="{MARGIN}" x2="{px:.1}" y2="{:.1}"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">{label}</text>"#,
            HEIGHT - MARGIN,
            HEIGHT - MARGIN + 16.0
        );
    }
    for i in 0..=4 {
        let ms = y_max * f64::from(i) / 4.0;
        let py = y(ms);
        let _ = write!(
            html,
            r#"<line class="grid" x1="{MARGIN}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}"/><text x="{:.1}" y="{:.1}" text-anchor="end">{ms:.2}</text>"#,
            WIDTH - MARGIN,
            MARGIN - 6.0,
            py + 4.0
        );
    }
    let path: Vec<String> = points
        .iter()
        .map(|(p, us)| format!("{:.1},{:.1}", x(percentile_x(*p)), y(*us as f64 / 1e3)))
        .collect();
    let _ = write!(
        html,
        r##"<polyline fill="none" stroke="#1f6feb" stroke-width="2" points="{}"/><line class="axis" x1="{MARGIN}" y1="{:.1}" x2="{:.1}" y2="{:.1}"/><line class="axis" x1="{MARGIN}" y1="{MARGIN}" x2="{MARGIN}" y2="{:.1}"/><text x="{:.1}" y="{:.1}" text-anchor="middle">percentile (log scale of 1/(1−p))</text><text x="14" y="{:.1}" transform="rotate(-90 14 {:.1})" text-anchor="middle">latency ms</text></svg>"##,
        path.join(" "),
        HEIGHT - MARGIN,
        WIDTH - MARGIN,
        HEIGHT - MARGIN,
        HEIGHT - MARGIN,
        WIDTH / 2.0,
        HEIGHT - 14.0,
        HEIGHT / 2.0,
        HEIGHT / 2.0,
    );
}

fn timeline_svg(html: &mut String, report: &Report) {
    let seconds = &report.per_second;
    let _ = write!(
        html,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="answers and p99 per second">"#
    );
    if seconds.is_empty() {
        html.push_str("<text x=\"20\" y=\"40\">no data</text></svg>");
        return;
    }
    let plot_w = WIDTH - 2.0 * MARGIN;
    let plot_h = HEIGHT - 2.0 * MARGIN;
    let n = seconds.len() as f64;
    let answers_max = seconds
        .iter()
        .map(|s| s.answered as f64)
        .fold(1.0, f64::max)
        * 1.1;
    let p99_max = seconds
        .iter()
        .map(|s| s.p99_us as f64 / 1e3)
        .fold(0.001, f64::max)
        * 1.1;
    let bar_w = (plot_w / n * 0.7).max(1.0);
    let label_every = (seconds.len() / 12).max(1);
    for i in (0..seconds.len()).step_by(label_every) {
        let lx = MARGIN + (i as f64 + 0.5) * plot_w / n;
        let _ = write!(
            html,
            r#"<text x="{lx:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            HEIGHT - MARGIN + 16.0,
            i + 1
        );
    }
    for (i, s) in seconds.iter().enumerate() {
        let h = s.answered as f64 / answers_max * plot_h;
        let bx = MARGIN + (i as f64 + 0.15) * plot_w / n;
        let _ = write!(
            html,
            r##"<rect x="{bx:.1}" y="{:.1}" width="{bar_w:.1}" height="{h:.1}" fill="#b6d4fe"/>"##,
            HEIGHT - MARGIN - h
        );
        if s.errors > 0 {
            let eh = s.errors as f64 / answers_max * plot_h;
            let _ = write!(
                html,
                r##"<rect x="{bx:.1}" y="{:.1}" width="{bar_w:.1}" height="{eh:.1}" fill="#f4a3a3"/>"##,
                HEIGHT - MARGIN - eh
            );
        }
    }
    let line: Vec<String> = seconds
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let px = MARGIN + (i as f64 + 0.5) * plot_w / n;
            let py = HEIGHT - MARGIN - (s.p99_us as f64 / 1e3) / p99_max * plot_h;
            format!("{px:.1},{py:.1}")
        })
        .collect();
    let _ = write!(
        html,
        r##"<polyline fill="none" stroke="#d1242f" stroke-width="2" points="{}"/><line class="axis" x1="{MARGIN}" y1="{:.1}" x2="{:.1}" y2="{:.1}"/><text x="{MARGIN}" y="{:.1}">answers/s (bars, max {:.0})</text><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#d1242f">p99 ms (line, max {:.2})</text><text x="{:.1}" y="{:.1}" text-anchor="middle">second of the run</text></svg>"##,
        line.join(" "),
        HEIGHT - MARGIN,
        WIDTH - MARGIN,
        HEIGHT - MARGIN,
        MARGIN - 10.0,
        answers_max / 1.1,
        WIDTH - MARGIN,
        MARGIN - 10.0,
        p99_max / 1.1,
        WIDTH / 2.0,
        HEIGHT - 14.0,
    );
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_axis_puts_nines_one_apart() {
        assert!((percentile_x(90.0) - 1.0).abs() < 1e-9);
        assert!((percentile_x(99.0) - 2.0).abs() < 1e-9);
        assert!((percentile_x(99.9) - 3.0).abs() < 1e-9);
        assert_eq!(percentile_x(0.0), 0.0);
    }

    #[test]
    fn names_are_escaped() {
        assert_eq!(escape("<a&\"b\">"), "&lt;a&amp;&quot;b&quot;&gt;");
    }
}
