//! Report figures (PNG, plotters with an embedded DejaVu Sans font, so no system fonts are
//! needed).

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::colors::colormaps::ViridisRGB;

use crate::{EvalError, Result};

static FONT: Once = Once::new();

fn ensure_font() {
    FONT.call_once(|| {
        // The bytes are a valid TrueType font shipped by the `dejavu` crate.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

fn plot_err(path: &Path) -> impl Fn(String) -> EvalError + '_ {
    move |m| EvalError::Plot {
        path: path.to_path_buf(),
        message: m,
    }
}

/// One curve of a line plot.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend label.
    pub name: String,
    /// Points `(x, y)`.
    pub points: Vec<(f64, f64)>,
    /// Draw markers at the points instead of a line.
    pub markers: bool,
}

/// A line plot with optional logarithmic axes and a shaded x interval.
#[derive(Debug, Clone)]
pub struct LinePlot {
    /// Title.
    pub title: String,
    /// x-axis label (with units).
    pub x_label: String,
    /// y-axis label (with units).
    pub y_label: String,
    /// Curves.
    pub series: Vec<Series>,
    /// Logarithmic x axis.
    pub log_x: bool,
    /// Logarithmic y axis.
    pub log_y: bool,
    /// Per series (by index; missing or empty: none), a band `(x, low, high)` shaded in the
    /// series' colour (e.g. the spread over seeds).
    pub bands: Vec<Vec<(f64, f64, f64)>>,
    /// A shaded x interval and its legend label (e.g. the training range).
    pub shade: Option<(f64, f64, String)>,
}

impl LinePlot {
    /// A plot with both axes logarithmic and nothing shaded (error against data or shots).
    pub fn log_log(title: String, x_label: &str, y_label: &str, series: Vec<Series>) -> Self {
        Self {
            title,
            x_label: x_label.into(),
            y_label: y_label.into(),
            series,
            log_x: true,
            log_y: true,
            shade: None,
            bands: Vec::new(),
        }
    }

    /// A plot with a linear x axis, a logarithmic y axis and nothing shaded (loss or error
    /// against steps or time).
    pub fn log_y(title: String, x_label: &str, y_label: &str, series: Vec<Series>) -> Self {
        Self {
            log_x: false,
            ..Self::log_log(title, x_label, y_label, series)
        }
    }
}

fn padded_range(values: impl Iterator<Item = f64>, log: bool) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite() && (!log || *v > 0.0)) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return if log { (0.1, 1.0) } else { (0.0, 1.0) };
    }
    if log {
        (lo / 1.3, hi * 1.3)
    } else {
        let pad = ((hi - lo) * 0.05).max(1e-12);
        (lo - pad, hi + pad)
    }
}

/// Tick values of a logarithmic axis over `[lo, hi]`: 1, 2 and 5 times the powers of ten
/// inside the range, or every digit times them when that gives fewer than three, so that
/// even a range shorter than a decade carries labels. Parsed from their decimal form, so
/// they print as written ("0.002", not "0.0020000000000000005").
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (k0, k1) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let ticks = |mantissas: &[u32]| -> Vec<f64> {
        (k0..=k1)
            .flat_map(|k| mantissas.iter().map(move |m| format!("{m}e{k}")))
            .filter_map(|t| t.parse::<f64>().ok())
            .filter(|v| (lo..=hi).contains(v))
            .collect()
    };
    let coarse = ticks(&[1, 2, 5]);
    if coarse.len() >= 3 {
        coarse
    } else {
        ticks(&[1, 2, 3, 4, 5, 6, 7, 8, 9])
    }
}

/// matplotlib's `tab10` order (the first six as before): ten curves before a colour repeats.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Draws `plot` to a PNG of `width x height` pixels.
pub fn line_plot(path: &Path, plot: &LinePlot, width: u32, height: u32) -> Result<()> {
    ensure_font();
    let e = plot_err(path);
    let root = BitMapBackend::new(path, (width, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
    let xs = plot
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .chain(plot.shade.iter().flat_map(|s| [s.0, s.1]));
    let ys = plot
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .chain(plot.bands.iter().flatten().flat_map(|b| [b.1, b.2]));
    let (x0, x1) = padded_range(xs, plot.log_x);
    let (y0, y1) = padded_range(ys, plot.log_y);
    macro_rules! draw {
        ($chart:expr) => {{
            let mut chart = $chart;
            chart
                .configure_mesh()
                .x_labels(10)
                .y_labels(10)
                .x_desc(plot.x_label.as_str())
                .y_desc(plot.y_label.as_str())
                .label_style(("sans-serif", 16))
                .axis_desc_style(("sans-serif", 18))
                .draw()
                .map_err(|x| e(x.to_string()))?;
            if let Some((a, b, label)) = &plot.shade {
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(*a, y0), (*b, y1)],
                        RGBColor(200, 200, 200).mix(0.4).filled(),
                    )))
                    .map_err(|x| e(x.to_string()))?
                    .label(label.as_str())
                    .legend(|(x, y)| {
                        Rectangle::new(
                            [(x, y - 6), (x + 16, y + 6)],
                            RGBColor(200, 200, 200).filled(),
                        )
                    });
            }
            for (i, band) in plot.bands.iter().enumerate() {
                let color = PALETTE[i % PALETTE.len()];
                let ok = |y: f64| y.is_finite() && (!plot.log_y || y > 0.0);
                let band: Vec<&(f64, f64, f64)> =
                    band.iter().filter(|b| ok(b.1) && ok(b.2)).collect();
                if band.len() < 2 {
                    continue;
                }
                let outline: Vec<(f64, f64)> = band
                    .iter()
                    .map(|b| (b.0, b.1))
                    .chain(band.iter().rev().map(|b| (b.0, b.2)))
                    .collect();
                chart
                    .draw_series(std::iter::once(Polygon::new(
                        outline,
                        color.mix(0.2).filled(),
                    )))
                    .map_err(|x| e(x.to_string()))?;
            }
            for (i, s) in plot.series.iter().enumerate() {
                let color = PALETTE[i % PALETTE.len()];
                let pts: Vec<(f64, f64)> = s
                    .points
                    .iter()
                    .copied()
                    .filter(|p| p.1.is_finite() && (!plot.log_y || p.1 > 0.0))
                    .collect();
                if s.markers {
                    chart
                        .draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled())))
                        .map_err(|x| e(x.to_string()))?
                        .label(s.name.as_str())
                        .legend(move |(x, y)| Circle::new((x + 8, y), 4, color.filled()));
                } else {
                    chart
                        .draw_series(LineSeries::new(pts, color.stroke_width(2)))
                        .map_err(|x| e(x.to_string()))?
                        .label(s.name.as_str())
                        .legend(move |(x, y)| {
                            PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                        });
                }
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 16))
                .draw()
                .map_err(|x| e(x.to_string()))?;
        }};
    }
    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(plot.title.as_str(), ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(80);
    match (plot.log_x, plot.log_y) {
        (false, false) => draw!(
            builder
                .build_cartesian_2d(x0..x1, y0..y1)
                .map_err(|x| e(x.to_string()))?
        ),
        (true, false) => draw!(
            builder
                .build_cartesian_2d(
                    (x0..x1).log_scale().with_key_points(log_ticks(x0, x1)),
                    y0..y1
                )
                .map_err(|x| e(x.to_string()))?
        ),
        (false, true) => draw!(
            builder
                .build_cartesian_2d(
                    x0..x1,
                    (y0..y1).log_scale().with_key_points(log_ticks(y0, y1))
                )
                .map_err(|x| e(x.to_string()))?
        ),
        (true, true) => draw!(
            builder
                .build_cartesian_2d(
                    (x0..x1).log_scale().with_key_points(log_ticks(x0, x1)),
                    (y0..y1).log_scale().with_key_points(log_ticks(y0, y1))
                )
                .map_err(|x| e(x.to_string()))?
        ),
    }
    root.present().map_err(|x| e(x.to_string()))?;
    Ok(())
}

/// Checks that every panel holds `rows x cols` values; the error names the panel.
fn check_panels(panels: &[SpaceTimeField<'_>], rows: usize, cols: usize) -> Result<()> {
    match panels.iter().find(|p| p.values.len() != rows * cols) {
        Some(p) => Err(EvalError::Shape {
            what: format!("panel `{}`", p.title),
            expected: format!("{rows} x {cols} values"),
            got: p.values.len().to_string(),
        }),
        None => Ok(()),
    }
}

/// A 1D field over space and time, `[time, x]` row-major.
#[derive(Debug, Clone, Copy)]
pub struct SpaceTimeField<'a> {
    /// Panel title.
    pub title: &'a str,
    /// Values `[time, x]`.
    pub values: &'a [f32],
}

/// Draws space-time panels side by side (e.g. true, predicted, error), each with its colour
/// bar; `x` and `times` give the axes.
pub fn space_time_panels(
    path: &Path,
    panels: &[SpaceTimeField<'_>],
    x: &[f64],
    times: &[f64],
    title: &str,
) -> Result<()> {
    ensure_font();
    let e = plot_err(path);
    let (nt, nx) = (times.len(), x.len());
    check_panels(panels, nt, nx)?;
    let width = 520 * panels.len().max(1) as u32;
    let root = BitMapBackend::new(path, (width, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
    let root = root
        .titled(title, ("sans-serif", 22))
        .map_err(|x| e(x.to_string()))?;
    let areas = root.split_evenly((1, panels.len().max(1)));
    let dx = if nx > 1 { x[1] - x[0] } else { 1.0 };
    let dt = if nt > 1 { times[1] - times[0] } else { 1.0 };
    for (area, panel) in areas.iter().zip(panels) {
        draw_heatmap(area, panel, (x, times), (dx, dt), ("x", "t")).map_err(&e)?;
    }
    root.present().map_err(|x| EvalError::Plot {
        path: path.to_path_buf(),
        message: x.to_string(),
    })?;
    Ok(())
}

/// Draws `panel.values` (`[rows, columns]`, rows along the vertical axis `times`, columns
/// along the horizontal axis `x`) with a colour bar.
fn draw_heatmap(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    panel: &SpaceTimeField<'_>,
    (x, times): (&[f64], &[f64]),
    (dx, dt): (f64, f64),
    (x_desc, y_desc): (&str, &str),
) -> std::result::Result<(), String> {
    let (lo, hi) = panel
        .values
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        (lo - 1.0, lo + 1.0)
    };
    let (plot_area, bar_area) = area.split_horizontally(area.dim_in_pixel().0 - 100);
    let x_end = x.last().copied().unwrap_or(1.0) + dx;
    let t_end = times.last().copied().unwrap_or(1.0) + dt;
    let mut chart = ChartBuilder::on(&plot_area)
        .caption(panel.title, ("sans-serif", 18))
        .margin(8)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(x[0]..x_end, times[0]..t_end)
        .map_err(|x| x.to_string())?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .draw()
        .map_err(|x| x.to_string())?;
    let nx = x.len();
    chart
        .draw_series(panel.values.iter().enumerate().map(|(i, &v)| {
            let (ti, xi) = (i / nx, i % nx);
            let c = ViridisRGB.get_color_normalized(v, lo, hi);
            Rectangle::new(
                [(x[xi], times[ti]), (x[xi] + dx, times[ti] + dt)],
                c.filled(),
            )
        }))
        .map_err(|x| x.to_string())?;
    // Colour bar.
    let mut bar = ChartBuilder::on(&bar_area)
        .margin_top(38)
        .margin_bottom(53)
        .margin_left(4)
        .right_y_label_area_size(70)
        .build_cartesian_2d(0.0f64..1.0, lo as f64..hi as f64)
        .map_err(|x| x.to_string())?;
    bar.configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_labels(6)
        .y_label_formatter(&|v| format!("{v:.3}"))
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(|x| x.to_string())?;
    let steps = 100;
    bar.draw_series((0..steps).map(|k| {
        let a = lo as f64 + (hi - lo) as f64 * k as f64 / steps as f64;
        let b = lo as f64 + (hi - lo) as f64 * (k + 1) as f64 / steps as f64;
        Rectangle::new(
            [(0.0, a), (1.0, b)],
            ViridisRGB.get_color_normalized(a as f32, lo, hi).filled(),
        )
    }))
    .map_err(|x| x.to_string())?;
    Ok(())
}

/// Draws 2D fields (each laid out `[x, y]` row-major, physfm's spatial order) as panels on
/// a grid of `columns` columns, each with its colour bar, `x` horizontal and `y` vertical:
/// for example true, predicted and error fields (three columns) at chosen times (rows).
///
/// ```
/// use physfm_eval::{SpaceTimeField, snapshot_panels};
/// let dir = tempfile::tempdir()?;
/// let (x, y) = ([0.0, 0.5], [0.0, 0.25, 0.5, 0.75]);
/// let field: Vec<f32> = (0..8).map(|i| i as f32).collect();
/// let panels = [SpaceTimeField { title: "true, t = 1", values: &field }];
/// snapshot_panels(&dir.path().join("s.png"), &panels, &x, &y, 1, "demo")?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn snapshot_panels(
    path: &Path,
    panels: &[SpaceTimeField<'_>],
    x: &[f64],
    y: &[f64],
    columns: usize,
    title: &str,
) -> Result<()> {
    ensure_font();
    let e = plot_err(path);
    let (nx, ny) = (x.len(), y.len());
    if columns == 0 || panels.is_empty() || nx == 0 || ny == 0 {
        return Err(EvalError::Invalid(format!(
            "figure {}: needs at least one panel, one column and non-empty axes",
            path.display()
        )));
    }
    check_panels(panels, nx, ny)?;
    let rows = panels.len().div_ceil(columns);
    let cols = columns.min(panels.len());
    let root =
        BitMapBackend::new(path, (520 * cols as u32, 40 + 480 * rows as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
    let root = root
        .titled(title, ("sans-serif", 22))
        .map_err(|x| e(x.to_string()))?;
    let areas = root.split_evenly((rows, cols));
    let dx = if nx > 1 { x[1] - x[0] } else { 1.0 };
    let dy = if ny > 1 { y[1] - y[0] } else { 1.0 };
    for (area, panel) in areas.iter().zip(panels) {
        // [x, y] -> [y, x]: rows of the heatmap run along y.
        let mut t = vec![0.0f32; nx * ny];
        for (i, v) in panel.values.iter().enumerate() {
            t[(i % ny) * nx + i / ny] = *v;
        }
        let transposed = SpaceTimeField {
            title: panel.title,
            values: &t,
        };
        draw_heatmap(area, &transposed, (x, y), (dx, dy), ("x", "y")).map_err(&e)?;
    }
    root.present().map_err(|x| e(x.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads width and height from a PNG header.
    fn png_size(path: &Path) -> (u32, u32) {
        let b = std::fs::read(path).unwrap();
        assert_eq!(&b[..8], b"\x89PNG\r\n\x1a\n");
        (
            u32::from_be_bytes(b[16..20].try_into().unwrap()),
            u32::from_be_bytes(b[20..24].try_into().unwrap()),
        )
    }

    #[test]
    fn figures_render_at_the_requested_size() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lines.png");
        let plot = LinePlot {
            title: "error".into(),
            x_label: "nu".into(),
            y_label: "nRMSE".into(),
            series: vec![Series {
                name: "a".into(),
                points: vec![(0.01, 0.1), (0.1, 0.01), (1.0, 0.05)],
                markers: true,
            }],
            log_x: true,
            log_y: true,
            shade: Some((0.02, 0.2, "train".into())),
            bands: Vec::new(),
        };
        line_plot(&p, &plot, 800, 500).unwrap();
        assert_eq!(png_size(&p), (800, 500));
        let q = dir.path().join("st.png");
        let x: Vec<f64> = (0..8).map(|i| i as f64 / 8.0).collect();
        let t = [0.0, 0.5, 1.0];
        let v: Vec<f32> = (0..24).map(|i| i as f32).collect();
        space_time_panels(
            &q,
            &[
                SpaceTimeField {
                    title: "a",
                    values: &v,
                },
                SpaceTimeField {
                    title: "b",
                    values: &v,
                },
            ],
            &x,
            &t,
            "demo",
        )
        .unwrap();
        assert_eq!(png_size(&q), (1040, 520));
        let e = space_time_panels(
            &q,
            &[SpaceTimeField {
                title: "bad",
                values: &v[..5],
            }],
            &x,
            &t,
            "demo",
        )
        .unwrap_err();
        assert!(e.to_string().contains("bad"));
    }

    #[test]
    fn log_axes_carry_ticks_even_on_short_ranges() {
        assert_eq!(
            log_ticks(0.003, 0.3),
            vec![0.005, 0.01, 0.02, 0.05, 0.1, 0.2]
        );
        // Less than a decade: every digit.
        assert_eq!(
            log_ticks(0.0025, 0.009),
            vec![0.003, 0.004, 0.005, 0.006, 0.007, 0.008, 0.009]
        );
        assert_eq!(
            log_ticks(20.0, 2000.0),
            vec![20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0]
        );
    }

    #[test]
    fn snapshot_grids_render_rows_of_panels() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("snap.png");
        let x: Vec<f64> = (0..6).map(|i| i as f64 / 6.0).collect();
        let y: Vec<f64> = (0..4).map(|i| i as f64 / 4.0).collect();
        let v: Vec<f32> = (0..24).map(|i| (i as f32).sin()).collect();
        let panel = |title| SpaceTimeField { title, values: &v };
        let panels = [
            panel("true"),
            panel("pred"),
            panel("error"),
            panel("true t=2"),
        ];
        snapshot_panels(&p, &panels, &x, &y, 3, "demo").unwrap();
        assert_eq!(png_size(&p), (1560, 1000));
        let e = snapshot_panels(&p, &panels[..1], &x, &y[..3], 3, "demo").unwrap_err();
        assert!(e.to_string().contains("6 x 3"), "{e}");
        assert!(snapshot_panels(&p, &panels, &x, &y, 0, "demo").is_err());
    }
}
