//! Reports of the run directories other than the quickstart's (`cargo xtask report` calls
//! [`write_other_report`]): a multi-physics pretraining run (`cargo xtask pretrain`) and a
//! CoDA run (`cargo xtask coda`). Each gets `report.md`, `metrics.json` and `training.png`
//! (the loss curves of its JSON-lines log). The sweeps (few-shot, transfer, scaling) are in
//! `sweep_reports`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use crate::error::{WithContext, read_json};
use crate::sweep_reports::finish;
use crate::{EvalError, LinePlot, Result, Series, line_plot};
use serde_json::{Value, json};

/// The kinds of run directory `report` reads, and the file that marks each.
pub const RUN_KINDS: &str = "a quickstart run (run.json), a pretraining run \
     (`cargo xtask pretrain`: report.json, evaluation.json), a CoDA run (`cargo xtask coda`: \
     coda.json), a few-shot sweep (`cargo xtask adapt`: fewshot.json), a transfer run \
     (`cargo xtask transfer`: transfer.json) or a scaling run (`cargo xtask scaling`: \
     scaling.json)";

/// Writes the report of a pretraining, CoDA, few-shot, transfer or scaling run; `Ok(false)` if
/// `run` is none of them.
pub fn write_other_report(run: &Path) -> Result<bool> {
    if run.join("fewshot.json").exists() {
        crate::sweep_reports::k_sweep_report(run, "fewshot")?;
        Ok(true)
    } else if run.join("transfer.json").exists() {
        crate::sweep_reports::k_sweep_report(run, "transfer")?;
        Ok(true)
    } else if run.join("scaling.json").exists() {
        crate::sweep_reports::scaling_report(run)?;
        Ok(true)
    } else if run.join("coda.json").exists() {
        coda_report(run)?;
        Ok(true)
    } else if run.join("evaluation.json").exists() && run.join("report.json").exists() {
        pretrain_report(run)?;
        Ok(true)
    } else {
        Ok(false)
    }
}

fn number(v: &Value, key: &str, path: &Path) -> Result<f64> {
    v[key]
        .as_f64()
        .with_context(|| format!("{}: `{key}` is missing or not a number", path.display()))
}

/// The curves of a JSON-lines training log: `loss`, every per-group `loss_<name>` and
/// `valid_loss`, each against `step`. A line that is not JSON is an error naming it.
pub fn training_curves(log: &Path) -> Result<Vec<Series>> {
    let text =
        std::fs::read_to_string(log).with_context(|| format!("reading {}", log.display()))?;
    let mut curves: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line)
            .with_context(|| format!("{} line {}: not JSON", log.display(), i + 1))?;
        let (Some(step), Some(obj)) = (v["step"].as_f64(), v.as_object()) else {
            continue;
        };
        for (k, x) in obj {
            let curve = k == "loss" || k == "valid_loss" || k.starts_with("loss_");
            if let (true, Some(x)) = (curve, x.as_f64()) {
                curves.entry(k.clone()).or_default().push((step, x));
            }
        }
    }
    if curves.is_empty() {
        return Err(EvalError::Invalid(format!(
            "{}: no loss values",
            log.display()
        )));
    }
    Ok(curves
        .into_iter()
        .map(|(name, points)| Series {
            name: match name.strip_prefix("loss_") {
                Some(group) => group.to_string(),
                None => name,
            },
            markers: points.len() <= 12,
            points,
        })
        .collect())
}

/// `training.png` in `run` from its `train.jsonl`, linear steps against a log loss.
fn training_plot(run: &Path, title: String) -> Result<()> {
    let series = training_curves(&run.join("train.jsonl"))?;
    line_plot(
        &run.join("training.png"),
        &LinePlot::log_y(
            title,
            "optimiser step",
            "training loss (mean over each log period)",
            series,
        ),
        900,
        560,
    )?;
    Ok(())
}

fn pretrain_report(run: &Path) -> Result<()> {
    let rpath = run.join("report.json");
    let r = read_json(&rpath)?;
    let evaluation = r["evaluation"]
        .as_array()
        .with_context(|| format!("{}: `evaluation` is not a list", rpath.display()))?;
    let mut rows = Vec::new();
    for e in evaluation {
        match (e[0].as_str(), e[1].as_f64(), e[2].as_f64()) {
            (Some(name), Some(one), Some(roll)) => rows.push((name.to_string(), one, roll)),
            _ => {
                return Err(EvalError::Invalid(format!(
                    "{}: an evaluation entry is not [dataset, one-step, rollout]: {e}",
                    rpath.display()
                )));
            }
        }
    }
    training_plot(
        run,
        format!("Multi-physics pretraining ({})", run.display()),
    )?;
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Pretraining run `{}`\n\n{} parameters, {:.0} s of training ({:.2} steps/s); \
         training loss {:.4} -> {:.4}.\n\n![training curves](training.png)\n\n\
         | dataset | test_interp one-step relative L2 | rollout relative L2 |\n| --- | --- | --- |",
        run.display(),
        number(&r, "parameters", &rpath)?,
        number(&r, "seconds", &rpath)?,
        number(&r, "steps_per_second", &rpath)?,
        number(&r, "initial_loss", &rpath)?,
        number(&r, "final_loss", &rpath)?,
    );
    for (name, one, roll) in &rows {
        let _ = writeln!(md, "| {name} | {one:.4} | {roll:.4} |");
    }
    let _ = writeln!(
        md,
        "\nErrors: space-time relative L2 per trajectory, averaged (one-step from true \
         frames; rollout from the first frame to the last). Spec: `spec.toml`."
    );
    let metrics = json!({
        "kind": "pretrain",
        "parameters": r["parameters"],
        "seconds": r["seconds"],
        "evaluation": rows.iter().map(|(n, o, ro)| json!({
            "dataset": n, "one_step_rel_l2": o, "rollout_rel_l2": ro
        })).collect::<Vec<_>>(),
    });
    finish(run, &md, &metrics)
}

fn coda_report(run: &Path) -> Result<()> {
    let cpath = run.join("coda.json");
    let c = read_json(&cpath)?;
    let o = &c["outcome"];
    let preset = c["spec"]["preset"].as_str().unwrap_or("?");
    let table_path = run.join("coda.md");
    let table = std::fs::read_to_string(&table_path)
        .with_context(|| format!("reading {}", table_path.display()))?;
    training_plot(run, format!("CoDA meta-training on {preset}"))?;
    // coda.md starts with its own title; the report keeps the rest below its own.
    let body = table.split_once('\n').map(|(_, b)| b).unwrap_or(&table);
    let md = format!(
        "# CoDA run `{}` ({preset})\n\n![meta-training losses per environment](training.png)\n{body}",
        run.display()
    );
    let metrics = json!({
        "kind": "coda",
        "preset": preset,
        "in_domain_mse": number(o, "in_domain_mse", &cpath)?,
        "adaptation_mse": number(o, "adaptation_mse", &cpath)?,
        "adaptation_mse_zero_context": number(o, "adaptation_mse_before", &cpath)?,
    });
    finish(run, &md, &metrics)
}
