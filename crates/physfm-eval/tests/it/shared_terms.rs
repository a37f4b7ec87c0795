//! Pretraining on a mixture of regimes of one family (the terms1d corners, coefficients 0
//! where a term is absent) and transfer to another regime of it through the pretrained head:
//! parameters fed as they are, the zero-shot score is the pretrained model's own error, and
//! wrong settings are refused by name.

use burn::tensor::Device;
use physfm_adapt::{MetaConfig, Strategy};
use physfm_eval::{
    FoundationSpec, ParamTransform, Presets, PretrainOptions, PretrainSpec, TransferStudy,
    foundation_study, named_spec, pretrain, rollout_errors, transfer_study,
};

/// The tiny presets and pretraining spec that the foundation study's tests share.
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/foundation");

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap()
}

/// The tiny pretraining spec with its parameters fed as `params`.
fn spec_text(params: &str) -> String {
    fixture("corpus.toml").replace("params = \"identity\"", &format!("params = \"{params}\""))
}

#[test]
fn a_regime_mixture_pretrains_with_zero_coefficients_and_transfers_through_its_head() {
    let dir = tempfile::tempdir().unwrap();
    let presets = Presets {
        presets: dir.path().join("presets"),
        data: dir.path().join("data"),
    };
    std::fs::create_dir_all(&presets.presets).unwrap();
    std::fs::write(
        presets.presets.join("tiny_corpus.toml"),
        fixture("tiny_corpus.toml"),
    )
    .unwrap();
    std::fs::write(
        presets.presets.join("tiny_burgers.toml"),
        fixture("tiny_burgers.toml"),
    )
    .unwrap();
    let device = Device::flex();
    let options = PretrainOptions::default();
    // Logarithms of absent terms' zero coefficients are refused, naming the way out.
    let text = spec_text("log");
    let log: PretrainSpec = toml::from_str(&text).unwrap();
    let e = pretrain(
        &log,
        &text,
        &presets,
        &dir.path().join("log"),
        &device,
        &options,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("tiny_corpus") && e.contains("not positive") && e.contains("identity"),
        "{e}"
    );
    let text = spec_text("identity");
    let spec: PretrainSpec = toml::from_str(&text).unwrap();
    assert_eq!(spec.params, ParamTransform::Identity);
    let out = pretrain(
        &spec,
        &text,
        &presets,
        &dir.path().join("run"),
        &device,
        &options,
    )
    .unwrap();
    // One head for the whole mixture, four coefficients, six trajectories.
    assert_eq!(out.config.datasets.len(), 1);
    assert_eq!(out.config.datasets[0].params, 4);
    assert_eq!(out.trajectories(), 6);
    let mut study = TransferStudy {
        target: "tiny_burgers".into(),
        shots: vec![2],
        strategies: vec![Strategy::Full, Strategy::Scratch],
        steps: 2,
        learning_rate: 1e-3,
        repeats: 1,
        meta_steps: 0,
        meta: MetaConfig::default(),
        head: Some("tiny_corpus".into()),
    };
    let (points, _) =
        transfer_study(&study, &out.model, &spec, &presets, &device, &mut |_| ()).unwrap();
    let names: Vec<&str> = points.iter().map(|p| p.strategy.as_str()).collect();
    assert_eq!(names, ["zero-shot", "full", "scratch"]);
    // Zero-shot is the pretrained model itself, through its own head, on the target.
    let test = presets
        .collection("tiny_burgers", "test_interp", 1, 0)
        .unwrap();
    let (one, roll) =
        rollout_errors(&out.model, 0, &test, ParamTransform::Identity, &device).unwrap();
    assert_eq!(
        (points[0].one_step_rel_l2, points[0].rollout_rel_l2),
        (one, roll)
    );
    assert!(points.iter().all(|p| p.rollout_rel_l2.is_finite()));
    // Without coefficient channels: no parameter inputs, in pretraining and on the target.
    let text = spec_text("none");
    let none: PretrainSpec = toml::from_str(&text).unwrap();
    let blind = pretrain(
        &none,
        &text,
        &presets,
        &dir.path().join("none"),
        &device,
        &options,
    )
    .unwrap();
    assert_eq!(blind.config.datasets[0].params, 0);
    let (points, _) =
        transfer_study(&study, &blind.model, &none, &presets, &device, &mut |_| ()).unwrap();
    assert_eq!(points.len(), 3);
    assert!(points.iter().all(|p| p.rollout_rel_l2.is_finite()));
    let streamed = PretrainOptions {
        stream: true,
        ..options
    };
    let e = pretrain(
        &none,
        &text,
        &presets,
        &dir.path().join("s"),
        &device,
        &streamed,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("in memory"), "{e}");
    // The streamed path refuses logarithms of zero coefficients as the in-memory one does,
    // naming the trajectory and the parameter.
    let text = spec_text("log");
    let e = pretrain(
        &toml::from_str(&text).unwrap(),
        &text,
        &presets,
        &dir.path().join("s-log"),
        &device,
        &streamed,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("tiny_corpus/train trajectory 0: parameter") && e.contains("not positive"),
        "{e}"
    );
    // A head the model does not have is named, with the ones it has.
    study.head = Some("nope".into());
    let e = transfer_study(&study, &out.model, &spec, &presets, &device, &mut |_| ())
        .unwrap_err()
        .to_string();
    assert!(e.contains("nope") && e.contains("tiny_corpus"), "{e}");
    // A target whose layout differs from the named head's is refused.
    let pool = presets.collection("tiny_burgers", "train", 1, 0).unwrap();
    let mut other = named_spec("tiny_corpus", &pool.meta);
    other.params = 3;
    let cfg = spec.model.config(vec![other]);
    let e = out.model.transfer(&cfg, &device).unwrap_err().to_string();
    assert!(
        e.contains("tiny_corpus") && e.contains("same channels"),
        "{e}"
    );
}

#[test]
fn the_foundation_study_chooses_on_val_reports_gains_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let presets = dir.path().join("presets");
    std::fs::create_dir_all(&presets).unwrap();
    std::fs::write(
        presets.join("tiny_corpus.toml"),
        fixture("tiny_corpus.toml"),
    )
    .unwrap();
    std::fs::write(
        presets.join("tiny_burgers.toml"),
        fixture("tiny_burgers.toml"),
    )
    .unwrap();
    std::fs::write(dir.path().join("corpus.toml"), spec_text("identity")).unwrap();
    let study: FoundationSpec = toml::from_str(&fixture("study.toml")).unwrap();
    let out = dir.path().join("study");
    let device = Device::flex();
    // Runs a study into `out`: its results and how many units it made (not reused); the
    // error as text.
    let run_in = |spec: &FoundationSpec, out: &std::path::Path| {
        let mut fresh = 0;
        let r = foundation_study(
            spec,
            dir.path(),
            &presets,
            out,
            &device,
            false,
            &mut |_, reused| fresh += usize::from(!reused),
        );
        r.map(|r| (r, fresh)).map_err(|e| e.to_string())
    };
    let run = |spec: &FoundationSpec| run_in(spec, &out);
    let (results, fresh) = run(&study).unwrap();
    // Scratch at K = 2 and 4, two rates each; zero-shot once; full at K = 2, two rates.
    assert_eq!((results.units.len(), fresh), (7, 7));
    // The corpus was generated with 2 trajectories per part.
    let corpus =
        physfm_data::TrajectoryCollection::open(&out.join("data/tiny_corpus/train.zarr")).unwrap();
    assert_eq!(corpus.len(), 4);
    // Each chosen run has the lowest `val` rollout error among its arm's rates.
    for c in &results.chosen {
        let val = |lr: f64| {
            results
                .units
                .iter()
                .find(|u| u.arm == c.arm && u.shots == c.shots && u.learning_rate == lr)
                .unwrap()
                .errors["val"]
                .rollout_rel_l2
        };
        let best = results
            .units
            .iter()
            .filter(|u| u.arm == c.arm && u.shots == c.shots)
            .map(|u| u.errors["val"].rollout_rel_l2)
            .fold(f64::INFINITY, f64::min);
        assert_eq!(val(c.learning_rate.unwrap()), best, "{}", c.arm);
    }
    // The gains are ratios of the chosen runs' test errors.
    let test = |arm: &str, k: usize| {
        results
            .chosen
            .iter()
            .find(|c| c.arm == arm && c.shots == k)
            .unwrap()
            .errors["test_interp"]
            .rollout_rel_l2
    };
    let ag = results.accuracy_gain["c:full"][&2].0;
    assert!(
        (ag - test("scratch", 2) / test("c:full", 2)).abs() < 1e-12,
        "{ag}"
    );
    // With one seed, the per-seed efficiency gain is the gain of the mean curve.
    for arm in ["c:zero-shot", "c:full"] {
        assert_eq!(
            results.efficiency_gain_per_seed[arm],
            vec![results.efficiency_gain[arm]],
            "{arm}"
        );
    }
    let finite = |u: &physfm_eval::Unit| u.errors["test_interp"].rollout_nrmse.is_finite();
    assert!(results.units.iter().all(finite));
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        md.contains("Rollout nRMSE")
            && md.contains("Accuracy gain")
            && md.contains("c:zero-shot")
            && md.contains("| 4 |")
            && md.contains("## Compute"),
        "{md}"
    );
    assert!(results.pretrain_seconds["c"].is_finite());
    for f in [
        "error_vs_k.png",
        "gain_vs_k.png",
        "trajectory.png",
        "results.json",
    ] {
        assert!(out.join(f).exists(), "{f}");
    }
    // Run again: every unit and the pretraining are reused, the results are the same.
    let (again, fresh) = run(&study).unwrap();
    assert_eq!(fresh, 0);
    assert_eq!(again, results);
    // More arms and rates extend the study: only the new units run.
    let mut more = study.clone();
    more.learning_rates.push(1e-2);
    let (extended, fresh) = run(&more).unwrap();
    assert_eq!((extended.units.len(), fresh), (10, 3));
    // A spec whose units would differ (another step budget) is refused, not mixed in.
    let other = FoundationSpec {
        steps: 3,
        ..study.clone()
    };
    let e = run(&other).unwrap_err();
    assert!(e.contains("another spec"), "{e}");
    // Meta-training settings matter only to meta-trained arms: without any, a change of
    // them reuses every unit.
    let (_, fresh) = run(&FoundationSpec {
        meta_steps: 5,
        ..study.clone()
    })
    .unwrap();
    assert_eq!(fresh, 0);
    // Early stopping changes every unit: refused here too.
    let mut arms = study.arms.clone();
    arms.push("c:coda".into());
    let early = FoundationSpec {
        steps: 4,
        validate_every: 1,
        patience: 1,
        arm_learning_rates: [("scratch".to_string(), vec![1e-2])].into(),
        meta_steps: 2,
        arms,
        ..study.clone()
    };
    let e = run(&early).unwrap_err();
    assert!(e.contains("another spec"), "{e}");
    // In a folder of its own: scratch sweeps its own rate; every adapted unit keeps the
    // weights of its best `val` rollout (step 0, the starting weights, included), and the
    // kept unit's `val` error is no worse than that of the weights it started from.
    // CoDA, meta-trained over the corpus's two regimes (the corners whose coefficients are
    // zero in different places), adapts a context and takes every step.
    let (r, fresh) = run_in(&early, &dir.path().join("early")).unwrap();
    assert_eq!(fresh, 7);
    for u in r.units.iter().filter(|u| u.arm == "c:coda") {
        assert_eq!(u.kept_step, None);
        assert!(u.errors["test_interp"].rollout_rel_l2.is_finite(), "{u:?}");
    }
    let scratch: Vec<f64> = r
        .units
        .iter()
        .filter(|u| u.arm == "scratch")
        .map(|u| u.learning_rate)
        .collect();
    assert_eq!(scratch, [1e-2, 1e-2]);
    let zero_shot = r.units.iter().find(|u| u.arm == "c:zero-shot").unwrap();
    assert_eq!(zero_shot.kept_step, None);
    for u in r.units.iter().filter(|u| u.shots > 0 && u.arm != "c:coda") {
        assert!(u.kept_step.is_some_and(|s| s <= 4), "{u:?}");
    }
    for u in r.units.iter().filter(|u| u.arm == "c:full") {
        let (kept, start) = (
            u.errors["val"].rollout_rel_l2,
            zero_shot.errors["val"].rollout_rel_l2,
        );
        assert!(kept <= start * (1.0 + 1e-6), "{kept} > {start}");
    }
    // Misnamed or empty per-arm sweeps and patience without validation are refused by name.
    for (bad, needle) in [
        (
            FoundationSpec {
                arm_learning_rates: [("c:lora".to_string(), vec![1e-3])].into(),
                ..study.clone()
            },
            "arm_learning_rates.\"c:lora\": no such arm",
        ),
        (
            FoundationSpec {
                arm_learning_rates: [("scratch".to_string(), vec![])].into(),
                ..study.clone()
            },
            "needs one or more positive rates",
        ),
        (
            FoundationSpec {
                patience: 2,
                ..study
            },
            "validate_every",
        ),
    ] {
        let e = bad.arms().unwrap_err().to_string();
        assert!(e.contains(needle), "{e}");
    }
}
