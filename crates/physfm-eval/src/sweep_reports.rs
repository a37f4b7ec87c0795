//! Reports of the sweep directories ([`write_other_report`](crate::write_other_report) picks
//! them): a few-shot sweep (`cargo xtask adapt
//! --sweep`: fewshot.json), a transfer run (`cargo xtask transfer`: transfer.json) and a
//! scaling run (`cargo xtask scaling`: scaling.json). Besides restating their tables, the
//! report answers the question those runs are made for, when pretraining helps: every strategy's
//! error as a ratio to training from scratch on the same data (below 1: pretraining helps),
//! and for scaling the log-log slope of the error against the amount of pretraining data.
//! Each gets `report.md`, `metrics.json`, `error.png` (error against K or data, log axes) and
//! `ratio.png` (ratio to scratch).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use crate::error::{WithContext, read_json, write_file};
use crate::{EvalError, LinePlot, Result, Series, line_plot};
use serde_json::{Value, json};

/// The strategy every other is compared with.
const SCRATCH: &str = "scratch";

/// Error values per strategy and x (shots, or pretraining trajectories), over repeats.
type Cells = BTreeMap<String, BTreeMap<usize, Vec<f64>>>;

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn field<'a>(p: &'a Value, key: &str, path: &Path) -> Result<&'a Value> {
    let v = &p[key];
    if v.is_null() {
        return Err(EvalError::Invalid(format!(
            "{}: a point has no `{key}`: {p}",
            path.display()
        )));
    }
    Ok(v)
}

fn float(p: &Value, key: &str, path: &Path) -> Result<f64> {
    field(p, key, path)?
        .as_f64()
        .with_context(|| format!("{}: `{key}` is not a number in {p}", path.display()))
}

fn count(p: &Value, key: &str, path: &Path) -> Result<usize> {
    Ok(field(p, key, path)?
        .as_u64()
        .with_context(|| format!("{}: `{key}` is not a count in {p}", path.display()))?
        as usize)
}

/// The points of a sweep file, each `(strategy, shots, error)` for `metric`.
fn k_sweep(path: &Path, doc: &Value, metric: &str) -> Result<Cells> {
    let points = doc["points"]
        .as_array()
        .with_context(|| format!("{}: `points` is not a list", path.display()))?;
    if points.is_empty() {
        return Err(EvalError::Invalid(format!("{}: no points", path.display())));
    }
    let mut cells = Cells::new();
    for p in points {
        let strategy = field(p, "strategy", path)?
            .as_str()
            .with_context(|| format!("{}: `strategy` is not a string in {p}", path.display()))?;
        cells
            .entry(strategy.to_string())
            .or_default()
            .entry(count(p, "shots", path)?)
            .or_default()
            .push(float(p, metric, path)?);
    }
    Ok(cells)
}

/// `strategy / scratch` of the mean errors at every x where both ran.
fn ratios(cells: &Cells) -> BTreeMap<String, BTreeMap<usize, f64>> {
    let Some(scratch) = cells.get(SCRATCH) else {
        return BTreeMap::new();
    };
    cells
        .iter()
        .filter(|(s, _)| s.as_str() != SCRATCH)
        .map(|(s, by_x)| {
            let r = by_x
                .iter()
                .filter_map(|(x, v)| scratch.get(x).map(|b| (*x, mean(v) / mean(b))))
                .collect();
            (s.clone(), r)
        })
        .collect()
}

/// Markdown: the header of a strategy-by-x table; returns the x values (the columns).
fn header<V>(
    md: &mut String,
    rows: &BTreeMap<String, BTreeMap<usize, V>>,
    x_name: &str,
) -> std::collections::BTreeSet<usize> {
    let xs: std::collections::BTreeSet<usize> =
        rows.values().flat_map(|m| m.keys().copied()).collect();
    let _ = write!(md, "| strategy \\ {x_name} |");
    for x in &xs {
        let _ = write!(md, " {x} |");
    }
    let _ = writeln!(md, "\n| --- |{}", " --- |".repeat(xs.len()));
    xs
}

/// Markdown: the mean error per strategy (rows) and x (columns), with the range over repeats.
fn error_table(md: &mut String, cells: &Cells, x_name: &str) {
    let xs = header(md, cells, x_name);
    for (s, by_x) in cells {
        let _ = write!(md, "| {s} |");
        for x in &xs {
            match by_x.get(x) {
                Some(v) if v.len() > 1 => {
                    let (lo, hi) = v
                        .iter()
                        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &e| {
                            (a.min(e), b.max(e))
                        });
                    let _ = write!(md, " {:.4} ({lo:.4}-{hi:.4}) |", mean(v));
                }
                Some(v) => {
                    let _ = write!(md, " {:.4} |", mean(v));
                }
                None => md.push_str(" - |"),
            }
        }
        let _ = writeln!(md);
    }
}

/// Markdown: the ratios to scratch and a one-paragraph reading of them.
fn ratio_section(md: &mut String, r: &BTreeMap<String, BTreeMap<usize, f64>>, x_name: &str) {
    if r.is_empty() {
        let _ = writeln!(
            md,
            "\nNo `{SCRATCH}` strategy ran, so there is no from-scratch baseline to compare with."
        );
        return;
    }
    let _ = writeln!(
        md,
        "\n## Against training from scratch\n\nError of each strategy divided by `{SCRATCH}`'s \
         at the same {x_name} (below 1: pretraining helps).\n"
    );
    let xs = header(md, r, x_name);
    for (s, by_x) in r {
        let _ = write!(md, "| {s} |");
        for x in &xs {
            match by_x.get(x) {
                Some(v) => {
                    let _ = write!(md, " {v:.3} |");
                }
                None => md.push_str(" - |"),
            }
        }
        let _ = writeln!(md);
    }
    let all: Vec<(&String, usize, f64)> = r
        .iter()
        .flat_map(|(s, m)| m.iter().map(move |(x, v)| (s, *x, *v)))
        .collect();
    let helps = all.iter().filter(|(_, _, v)| *v < 1.0).count();
    let (bs, bx, bv) = all
        .iter()
        .copied()
        .min_by(|a, b| a.2.total_cmp(&b.2))
        .expect("at least one ratio");
    let _ = writeln!(
        md,
        "\nPretraining helps at {helps} of {} points; the largest gain is `{bs}` at {x_name} = \
         {bx} ({:.0}% below scratch).",
        all.len(),
        100.0 * (1.0 - bv)
    );
    for (s, m) in r {
        let beyond: Vec<usize> = m
            .iter()
            .filter(|(_, v)| **v >= 1.0)
            .map(|(x, _)| *x)
            .collect();
        let _ = if beyond.is_empty() {
            writeln!(md, "- `{s}` beats scratch at every {x_name}.")
        } else if beyond.len() == m.len() {
            writeln!(md, "- `{s}` never beats scratch.")
        } else {
            writeln!(
                md,
                "- `{s}` does not beat scratch at {x_name} = {beyond:?}."
            )
        };
    }
}

fn series_of(cells: &Cells) -> Vec<Series> {
    cells
        .iter()
        .map(|(s, m)| Series {
            name: s.clone(),
            points: m.iter().map(|(x, v)| (*x as f64, mean(v))).collect(),
            markers: m.len() <= 12,
        })
        .collect()
}

/// `ratio.png`: the ratios against x on a log axis, with the parity line at 1.
fn ratio_plot(
    run: &Path,
    r: &BTreeMap<String, BTreeMap<usize, f64>>,
    title: String,
    x_label: &str,
) -> Result<bool> {
    if r.is_empty() {
        return Ok(false);
    }
    let mut series: Vec<Series> = r
        .iter()
        .map(|(s, m)| Series {
            name: s.clone(),
            points: m.iter().map(|(x, v)| (*x as f64, *v)).collect(),
            markers: m.len() <= 12,
        })
        .collect();
    let xs: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    let (lo, hi) = xs
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(a, b), &x| (a.min(x), b.max(x)));
    series.push(Series {
        name: format!("{SCRATCH} (= 1)"),
        points: vec![(lo, 1.0), (hi, 1.0)],
        markers: false,
    });
    line_plot(
        &run.join("ratio.png"),
        &LinePlot {
            title,
            x_label: x_label.into(),
            y_label: format!("error / error of {SCRATCH} (below 1: pretraining helps)"),
            series,
            log_x: true,
            log_y: false,
            shade: None,
            bands: Vec::new(),
        },
        900,
        560,
    )?;
    Ok(true)
}

fn metrics_of(cells: &Cells) -> Value {
    cells
        .iter()
        .map(|(s, m)| {
            let by_x: serde_json::Map<String, Value> = m
                .iter()
                .map(|(x, v)| (x.to_string(), json!({"mean": mean(v), "values": v})))
                .collect();
            (s.clone(), Value::Object(by_x))
        })
        .collect::<serde_json::Map<String, Value>>()
        .into()
}

fn ratios_json(r: &BTreeMap<String, BTreeMap<usize, f64>>) -> Value {
    r.iter()
        .map(|(s, m)| {
            let by_x: serde_json::Map<String, Value> =
                m.iter().map(|(x, v)| (x.to_string(), json!(v))).collect();
            (s.clone(), Value::Object(by_x))
        })
        .collect::<serde_json::Map<String, Value>>()
        .into()
}

/// Writes a run's `report.md` and `metrics.json`.
pub(crate) fn finish(run: &Path, md: &str, metrics: &Value) -> Result<()> {
    write_file(&run.join("report.md"), md.as_bytes())?;
    write_file(
        &run.join("metrics.json"),
        serde_json::to_string_pretty(metrics)
            .expect("a JSON value serialises")
            .as_bytes(),
    )?;
    Ok(())
}

/// The report of a few-shot sweep or a transfer run: error against K per strategy.
pub fn k_sweep_report(run: &Path, kind: &str) -> Result<()> {
    let (file, metric, label) = match kind {
        "fewshot" => (
            "fewshot.json",
            "rollout_nrmse",
            "rollout nRMSE on the test set",
        ),
        _ => (
            "transfer.json",
            "rollout_rel_l2",
            "rollout relative L2 error on test_interp",
        ),
    };
    let path = run.join(file);
    let doc = read_json(&path)?;
    let cells = k_sweep(&path, &doc, metric)?;
    let r = ratios(&cells);
    let target = doc["target"].as_str().unwrap_or("?");
    let mut series = series_of(&cells);
    if kind == "fewshot" {
        let zero = float(&doc["zero_shot"], metric, &path)?;
        let xs: Vec<usize> = cells.values().flat_map(|m| m.keys().copied()).collect();
        let (lo, hi) = (*xs.iter().min().unwrap(), *xs.iter().max().unwrap());
        series.push(Series {
            name: "zero-shot (no adaptation)".into(),
            points: vec![(lo as f64, zero), (hi as f64, zero)],
            markers: false,
        });
    }
    let what = if kind == "fewshot" {
        "Few-shot adaptation"
    } else {
        "Transfer after multi-physics pretraining"
    };
    line_plot(
        &run.join("error.png"),
        &LinePlot::log_log(
            format!("{what} to {target}"),
            "adaptation trajectories K",
            label,
            series,
        ),
        900,
        560,
    )?;
    let has_ratio = ratio_plot(
        run,
        &r,
        format!("{what} to {target}: against training from scratch"),
        "adaptation trajectories K",
    )?;
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# {what} to `{target}` (`{}`)\n\nMetric: {label}, mean over repeats (range in \
         brackets).\n",
        run.display()
    );
    if let Some(c) = doc["command"].as_str() {
        let _ = writeln!(md, "Command: `{c}`\n");
    }
    if kind == "fewshot" {
        let _ = writeln!(
            md,
            "Zero-shot (the pretrained model, no adaptation): {:.4}.\n",
            float(&doc["zero_shot"], metric, &path)?
        );
    }
    let _ = writeln!(md, "![error against K](error.png)\n");
    error_table(&mut md, &cells, "K");
    ratio_section(&mut md, &r, "K");
    if has_ratio {
        let _ = writeln!(md, "\n![ratio to scratch](ratio.png)");
    }
    let mut metrics = json!({
        "kind": kind,
        "target": target,
        "metric": metric,
        "strategies": metrics_of(&cells),
        "ratio_to_scratch": ratios_json(&r),
    });
    if kind == "fewshot" {
        metrics["zero_shot"] = json!(float(&doc["zero_shot"], metric, &path)?);
    }
    finish(run, &md, &metrics)
}

/// Least-squares slope of `ln y` against `ln x`; `None` under two distinct x.
fn log_log_slope(points: &[(f64, f64)]) -> Option<f64> {
    let pts: Vec<(f64, f64)> = points
        .iter()
        .filter(|(x, y)| *x > 0.0 && *y > 0.0)
        .map(|(x, y)| (x.ln(), y.ln()))
        .collect();
    let n = pts.len() as f64;
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / n;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if pts.len() < 2 || sxx < 1e-12 {
        return None;
    }
    Some(pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>() / sxx)
}

/// "1 family", "2 families".
fn families(f: usize) -> String {
    format!("{f} famil{}", if f == 1 { "y" } else { "ies" })
}

/// The report of a scaling run: error against the amount of pretraining data per family
/// count, the slope of that curve and the ratio to scratch.
pub fn scaling_report(run: &Path) -> Result<()> {
    let path = run.join("scaling.json");
    let doc = read_json(&path)?;
    let target = doc["target"].as_str().unwrap_or("?");
    let values = |v: &Value, what: &str| -> Result<Vec<f64>> {
        let list = v
            .as_array()
            .with_context(|| format!("{}: `{what}` is not a list", path.display()))?;
        let out: Option<Vec<f64>> = list.iter().map(Value::as_f64).collect();
        match out {
            Some(o) if !o.is_empty() => Ok(o),
            _ => Err(EvalError::Invalid(format!(
                "{}: `{what}` is not a non-empty list of numbers",
                path.display()
            ))),
        }
    };
    let scratch = mean(&values(
        &doc["scratch_rollout_rel_l2"],
        "scratch_rollout_rel_l2",
    )?);
    let points = doc["points"]
        .as_array()
        .with_context(|| format!("{}: `points` is not a list", path.display()))?;
    if points.is_empty() {
        return Err(EvalError::Invalid(format!("{}: no points", path.display())));
    }
    // Per family count: (pretraining trajectories, trajectories per family, mean error).
    let mut by_f: BTreeMap<usize, Vec<(usize, usize, f64)>> = BTreeMap::new();
    for p in points {
        let e = mean(&values(&p["rollout_rel_l2"], "rollout_rel_l2")?);
        by_f.entry(count(p, "families", &path)?).or_default().push((
            count(p, "pretraining_trajectories", &path)?,
            count(p, "trajectories_per_family", &path)?,
            e,
        ));
    }
    for v in by_f.values_mut() {
        v.sort_by_key(|p| p.0);
    }
    let label = "rollout relative L2 error on test_interp";
    let x_label = "pretraining trajectories (families x trajectories per family)";
    let mut series: Vec<Series> = by_f
        .iter()
        .map(|(f, v)| Series {
            name: families(*f),
            points: v.iter().map(|p| (p.0 as f64, p.2)).collect(),
            markers: v.len() <= 12,
        })
        .collect();
    let (lo, hi) = by_f
        .values()
        .flatten()
        .fold((usize::MAX, 0), |(a, b), p| (a.min(p.0), b.max(p.0)));
    series.push(Series {
        name: format!("{SCRATCH} on the same K"),
        points: vec![(lo as f64, scratch), (hi as f64, scratch)],
        markers: false,
    });
    line_plot(
        &run.join("error.png"),
        &LinePlot::log_log(
            format!("Transfer to {target} against pretraining data"),
            x_label,
            label,
            series,
        ),
        900,
        560,
    )?;
    let r: BTreeMap<String, BTreeMap<usize, f64>> = by_f
        .iter()
        .map(|(f, v)| {
            (
                families(*f),
                v.iter().map(|p| (p.0, p.2 / scratch)).collect(),
            )
        })
        .collect();
    ratio_plot(
        run,
        &r,
        format!("Transfer to {target}: against training from scratch"),
        x_label,
    )?;
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Transfer to `{target}` against pretraining data (`{}`)\n\nMetric: {label} after \
         transfer from K = {} trajectories, mean over subsets; from scratch on the same K: \
         {scratch:.4}.\n\n![error against pretraining data](error.png)\n\n\
         | families | trajectories per family | pretraining trajectories | error | / scratch |\n\
         | --- | --- | --- | --- | --- |",
        run.display(),
        doc["shots"]
    );
    let mut slopes = serde_json::Map::new();
    for (f, v) in &by_f {
        for (d, n, e) in v {
            let _ = writeln!(md, "| {f} | {n} | {d} | {e:.4} | {:.3} |", e / scratch);
        }
    }
    let _ = writeln!(md);
    for (f, v) in &by_f {
        let pts: Vec<(f64, f64)> = v.iter().map(|p| (p.0 as f64, p.2)).collect();
        match log_log_slope(&pts) {
            Some(b) => {
                let _ = writeln!(
                    md,
                    "- {}: error ~ data^{b:.3} ({}).",
                    families(*f),
                    if b < -0.05 {
                        "falls with more pretraining data"
                    } else if b > 0.05 {
                        "rises with more pretraining data"
                    } else {
                        "flat"
                    }
                );
                slopes.insert(f.to_string(), json!(b));
            }
            None => {
                let _ = writeln!(md, "- {}: one data size, no slope.", families(*f));
            }
        }
    }
    let helps = r
        .values()
        .flat_map(|m| m.values())
        .filter(|v| **v < 1.0)
        .count();
    let total: usize = r.values().map(|m| m.len()).sum();
    let _ = writeln!(
        md,
        "\nPretraining beats scratch at {helps} of {total} points.\n\n![ratio to scratch](ratio.png)"
    );
    let metrics = json!({
        "kind": "scaling",
        "target": target,
        "metric": "rollout_rel_l2",
        "scratch": scratch,
        "points": by_f.iter().flat_map(|(f, v)| v.iter().map(move |(d, n, e)| json!({
            "families": f, "trajectories_per_family": n, "pretraining_trajectories": d,
            "error": e, "ratio_to_scratch": e / scratch,
        }))).collect::<Vec<_>>(),
        "log_log_slope": slopes,
    });
    finish(run, &md, &metrics)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_size(path: &Path) -> (u32, u32) {
        let png = std::fs::read(path).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{}", path.display());
        let be = |b: &[u8]| u32::from_be_bytes(b.try_into().unwrap());
        (be(&png[16..20]), be(&png[20..24]))
    }

    fn metrics(run: &Path) -> Value {
        serde_json::from_str(&std::fs::read_to_string(run.join("metrics.json")).unwrap()).unwrap()
    }

    #[test]
    fn a_few_shot_sweep_is_reported_against_scratch() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path();
        let point =
            |s: &str, k: usize, e: f64| json!({"strategy": s, "shots": k, "rollout_nrmse": e});
        let doc = json!({
            "command": "cargo xtask adapt --sweep",
            "target": "burgers_hi_nu",
            "zero_shot": {"strategy": "zero-shot", "shots": 0, "rollout_nrmse": 0.9},
            "points": [point("full", 1, 0.2), point("full", 4, 0.1), point("lora", 1, 0.3),
                       point("lora", 4, 0.3), point("scratch", 1, 0.4), point("scratch", 4, 0.2)],
        });
        std::fs::write(run.join("fewshot.json"), doc.to_string()).unwrap();
        assert!(crate::run_reports::write_other_report(run).unwrap());
        let m = metrics(run);
        assert_eq!(m["kind"], "fewshot");
        assert_eq!(m["ratio_to_scratch"]["full"]["1"], 0.5);
        assert!((m["ratio_to_scratch"]["lora"]["4"].as_f64().unwrap() - 1.5).abs() < 1e-12);
        assert_eq!(m["zero_shot"], 0.9);
        let md = std::fs::read_to_string(run.join("report.md")).unwrap();
        assert!(md.contains("Pretraining helps at 3 of 4 points"), "{md}");
        assert!(md.contains("`full` beats scratch at every K"), "{md}");
        assert!(
            md.contains("`lora` does not beat scratch at K = [4]"),
            "{md}"
        );
        assert_eq!(png_size(&run.join("error.png")), (900, 560));
        assert_eq!(png_size(&run.join("ratio.png")), (900, 560));
    }

    #[test]
    fn a_transfer_run_averages_repeats_and_a_bad_point_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path();
        let point = |s: &str, k: usize, r: usize, e: f64| json!({"strategy": s, "shots": k, "repeat": r, "rollout_rel_l2": e, "one_step_rel_l2": 0.1});
        let doc = json!({"target": "physfm_ks1d", "points": [
            point("full", 2, 0, 0.3), point("full", 2, 1, 0.5),
            point("scratch", 2, 0, 0.8), point("scratch", 2, 1, 0.8)]});
        std::fs::write(run.join("transfer.json"), doc.to_string()).unwrap();
        assert!(crate::run_reports::write_other_report(run).unwrap());
        let m = metrics(run);
        assert_eq!(m["strategies"]["full"]["2"]["mean"], 0.4);
        assert_eq!(m["ratio_to_scratch"]["full"]["2"], 0.5);
        let md = std::fs::read_to_string(run.join("report.md")).unwrap();
        assert!(md.contains("| full | 0.4000 (0.3000-0.5000) |"), "{md}");
        std::fs::write(
            run.join("transfer.json"),
            json!({"target": "x", "points": [{"strategy": "full", "shots": 2}]}).to_string(),
        )
        .unwrap();
        let err = format!(
            "{:#}",
            crate::run_reports::write_other_report(run).unwrap_err()
        );
        assert!(
            err.contains("transfer.json") && err.contains("rollout_rel_l2"),
            "{err}"
        );
    }

    #[test]
    fn a_scaling_run_reports_the_slope_against_data() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path();
        // error = 2 * D^-0.5 for one family; flat for two.
        let point = |f: usize, n: usize, e: f64| {
            json!({"families": f, "trajectories_per_family": n, "pretraining_trajectories": f * n,
                   "rollout_rel_l2": [e], "one_step_rel_l2": [0.1]})
        };
        let doc = json!({"target": "physfm_ks1d", "shots": 4, "steps": 10, "pretrain_steps": 10,
            "scratch_rollout_rel_l2": [0.5],
            "points": [point(1, 16, 0.5), point(1, 64, 0.25), point(2, 16, 0.6), point(2, 64, 0.6)]});
        std::fs::write(run.join("scaling.json"), doc.to_string()).unwrap();
        assert!(crate::run_reports::write_other_report(run).unwrap());
        let m = metrics(run);
        assert!((m["log_log_slope"]["1"].as_f64().unwrap() + 0.5).abs() < 1e-9);
        assert!(m["log_log_slope"]["2"].as_f64().unwrap().abs() < 1e-9);
        let md = std::fs::read_to_string(run.join("report.md")).unwrap();
        assert!(md.contains("error ~ data^-0.500 (falls"), "{md}");
        assert!(
            md.contains("Pretraining beats scratch at 1 of 4 points"),
            "{md}"
        );
        assert_eq!(png_size(&run.join("error.png")), (900, 560));
        assert_eq!(png_size(&run.join("ratio.png")), (900, 560));
    }
}
