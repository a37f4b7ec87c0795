//! `cargo xtask predict --model DIR --input X.npy --output Y.npy`: runs a saved physfm model
//! on a NumPy array, so that a trained model serves any language that writes `.npy`.
//!
//! Layouts (physfm's, channel last): for a stepper (`physfm.stepper1d.fno`), the input is
//! one state per sample, `[batch, *space, channel]`, or for a stepper of `h > 1` history frames
//! the last `h` frames per sample, oldest first, `[batch, h, *space, channel]`; the parameters `[batch, parameters]`
//! (`--params P.npy`) or one value per name for every sample (`--param nu=0.05`); the output
//! holds `--steps K` autoregressive steps, `[batch, K, *space, channel]`. For a bare FNO
//! (`physfm.fno`, e.g. one imported from neuraloperator), the input is
//! `[batch, *space, in_channels]` and the output `[batch, *space, out_channels]`, or both
//! channel first (`[batch, channel, *space]`, neuraloperator's layout) with
//! `--channels-first`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use burn::tensor::{Device, Tensor, TensorData};
use physfm_data::{read_npy, write_npy};
use physfm_models::{FNO_KIND, Fno, Stepper1d, model_kind};
use physfm_train::{frames_to_model, frames_to_stored};

/// Runs a saved model on a `.npy` array.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Predict {
    /// Model directory (`config.json` + `model.safetensors`, as `cargo xtask quickstart` saves it).
    #[arg(long)]
    model: PathBuf,
    /// Input states `[batch, *space, channel]`, or `[batch, history, *space, channel]` for a
    /// model of several history frames (float32 or float64 .npy).
    #[arg(long)]
    input: PathBuf,
    /// Output file: `[batch, steps, *space, channel]` float32 .npy (written atomically).
    #[arg(long)]
    output: PathBuf,
    /// PDE parameters `[batch, parameters]` (.npy), in the model's parameter order.
    #[arg(long, conflicts_with = "param")]
    params: Option<PathBuf>,
    /// A parameter value for every sample, `name=value` (repeat for each parameter).
    #[arg(long)]
    param: Vec<String>,
    /// Autoregressive steps to predict.
    #[arg(long, default_value_t = 1)]
    steps: usize,
    /// Input and output channel first, `[batch, channel, *space]` (bare FNO models only).
    #[arg(long)]
    channels_first: bool,
}

/// Samples per forward pass.
const CHUNK: usize = 64;

impl Predict {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        let kind = model_kind(&self.model)
            .with_context(|| format!("reading the model in {}", self.model.display()))?;
        if kind == FNO_KIND {
            return self.run_fno();
        }
        if self.channels_first {
            bail!("--channels-first is for bare FNO models; this model is `{kind}`");
        }
        let device = Device::flex();
        let model = Stepper1d::load(&self.model, &device)
            .with_context(|| format!("loading the model in {}", self.model.display()))?;
        let x = read_npy(&self.input)?;
        let c = model.channels();
        let h = model.history();
        let names = &model.norm.param_names;
        let (layout_ok, layout) = if h == 1 {
            (
                x.shape.len() == 3 && x.shape[2] == c,
                format!("[batch, points, {c}]"),
            )
        } else {
            (
                x.shape.len() == 4 && x.shape[1] == h && x.shape[3] == c,
                format!("[batch, {h}, points, {c}] (its {h} history frames, oldest first)"),
            )
        };
        if !layout_ok {
            bail!(
                "{}: shape {:?}; this model (1D, {c} channel(s), {h} input frame(s)) takes \
                 {layout}",
                self.input.display(),
                x.shape
            );
        }
        finite(&self.input, &x.data)?;
        if self.steps == 0 {
            bail!("--steps must be at least 1");
        }
        let (b, n) = (x.shape[0], x.shape[x.shape.len() - 2]);
        let params = self.parameters(names, b)?;
        let p = names.len();
        let mut out = vec![0.0f32; b * self.steps * n * c];
        for start in (0..b).step_by(CHUNK) {
            let end = (start + CHUNK).min(b);
            let mut state = Vec::with_capacity((end - start) * h * c * n);
            frames_to_model(
                &x.data[start * h * n * c..end * h * n * c],
                n,
                c,
                &mut state,
            );
            let mut u =
                Tensor::<3>::from_data(TensorData::new(state, [end - start, h * c, n]), &device);
            let frame = model.frame();
            for k in 0..self.steps {
                let next = model.step(u.clone(), &params[start * p..end * p]);
                u = frame.advance(u, next.clone());
                let frames = frames_to_stored(
                    &next.into_data().try_to_vec::<f32>().expect("f32 output"),
                    end - start,
                    c,
                    n,
                );
                for (i, s) in (start..end).enumerate() {
                    let at = ((s * self.steps + k) * n) * c;
                    out[at..at + n * c].copy_from_slice(&frames[i * n * c..(i + 1) * n * c]);
                }
            }
        }
        write_npy(&self.output, &[b, self.steps, n, c], &out)?;
        println!(
            "wrote {} ([{b}, {}, {n}, {c}])",
            self.output.display(),
            self.steps
        );
        Ok(())
    }

    /// A bare FNO (`physfm.fno`): one application per sample.
    fn run_fno(&self) -> anyhow::Result<()> {
        let device = Device::flex();
        let (config, fno) = Fno::load(&self.model, &device)
            .with_context(|| format!("loading the model in {}", self.model.display()))?;
        if self.steps != 1 || self.params.is_some() || !self.param.is_empty() {
            bail!("a bare FNO takes no --steps, --param or --params: it maps input to output once");
        }
        let x = read_npy(&self.input)?;
        let dims = config.n_modes.len();
        let (cin, cout) = (config.in_channels, config.out_channels);
        let c_axis = if self.channels_first { 1 } else { dims + 1 };
        if x.shape.len() != dims + 2 || x.shape[c_axis] != cin {
            let layout = if self.channels_first {
                format!("[batch, {cin}, {}]", vec!["n"; dims].join(", "))
            } else {
                format!("[batch, {}, {cin}]", vec!["n"; dims].join(", "))
            };
            bail!(
                "{}: shape {:?}; this model ({dims}D, {cin} input channel(s)) takes {layout}",
                self.input.display(),
                x.shape
            );
        }
        finite(&self.input, &x.data)?;
        let (y, shape) = match dims {
            1 => fno_apply::<3>(&fno, &x.data, &x.shape, self.channels_first, cout, &device),
            2 => fno_apply::<4>(&fno, &x.data, &x.shape, self.channels_first, cout, &device),
            _ => fno_apply::<5>(&fno, &x.data, &x.shape, self.channels_first, cout, &device),
        };
        write_npy(&self.output, &shape, &y)?;
        println!("wrote {} ({shape:?})", self.output.display());
        Ok(())
    }

    /// The parameters of every sample, `[batch * parameters]`, checked against the model's.
    fn parameters(&self, names: &[String], b: usize) -> anyhow::Result<Vec<f64>> {
        let p = names.len();
        if let Some(path) = &self.params {
            let a = read_npy(path)?;
            if a.shape != [b, p] {
                bail!(
                    "{}: shape {:?}; expected [{b}, {p}] (parameters {names:?})",
                    path.display(),
                    a.shape
                );
            }
            return Ok(a.data.iter().map(|&v| v as f64).collect());
        }
        let mut given = BTreeMap::new();
        for kv in &self.param {
            let (k, v) = kv
                .split_once('=')
                .with_context(|| format!("--param {kv}: expected name=value"))?;
            let v: f64 = v
                .parse()
                .with_context(|| format!("--param {kv}: `{v}` is not a number"))?;
            if !names.iter().any(|n| n == k) {
                bail!("--param {kv}: the model has no parameter `{k}` (it has {names:?})");
            }
            given.insert(k.to_string(), v);
        }
        let one: Vec<f64> = names
            .iter()
            .map(|n| {
                given.get(n).copied().with_context(|| {
                    format!(
                        "the model needs parameter `{n}`: pass --param {n}=VALUE or --params FILE"
                    )
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok((0..b).flat_map(|_| one.iter().copied()).collect())
    }
}

/// Refuses an input with a NaN or infinite value, naming its flat index.
fn finite(path: &std::path::Path, data: &[f32]) -> anyhow::Result<()> {
    if let Some(i) = data.iter().position(|v| !v.is_finite()) {
        bail!(
            "{}: value {} at flat index {i} is not finite",
            path.display(),
            data[i]
        );
    }
    Ok(())
}

/// Runs `fno` on `data` of `shape` (channel first or last), `CHUNK` samples at a time;
/// returns the output and its shape in the same layout.
fn fno_apply<const D: usize>(
    fno: &Fno,
    data: &[f32],
    shape: &[usize],
    channels_first: bool,
    cout: usize,
    device: &Device,
) -> (Vec<f32>, Vec<usize>) {
    let b = shape[0];
    let per: usize = shape[1..].iter().product();
    // Channel last <-> first.
    let mut to_first = [0usize; D];
    let mut to_last = [0usize; D];
    for (k, (f, l)) in to_first.iter_mut().zip(to_last.iter_mut()).enumerate() {
        *f = match k {
            0 => 0,
            1 => D - 1,
            _ => k - 1,
        };
        *l = match k {
            0 => 0,
            k if k == D - 1 => 1,
            _ => k + 1,
        };
    }
    let mut out =
        Vec::with_capacity(b * per / shape[if channels_first { 1 } else { D - 1 }] * cout);
    let mut out_shape = shape.to_vec();
    out_shape[if channels_first { 1 } else { D - 1 }] = cout;
    for start in (0..b).step_by(CHUNK) {
        let end = (start + CHUNK).min(b);
        let mut s = shape.to_vec();
        s[0] = end - start;
        let x = Tensor::<D>::from_data(
            TensorData::new(data[start * per..end * per].to_vec(), s),
            device,
        );
        let x = if channels_first {
            x
        } else {
            x.permute(to_first)
        };
        let y = fno.forward(x);
        let y = if channels_first {
            y
        } else {
            y.permute(to_last)
        };
        out.extend(y.into_data().try_to_vec::<f32>().expect("f32 output"));
    }
    (out, out_shape)
}

#[cfg(test)]
mod tests {
    use super::*;
    use physfm_models::{FnoConfig, Normalization, StepperConfig};

    fn saved_model(dir: &std::path::Path) -> Stepper1d {
        let device = Device::flex();
        device.seed(4);
        let norm = Normalization {
            field_mean: vec![0.1, -0.2],
            field_std: vec![1.0, 2.0],
            delta_mean: vec![0.0, 0.0],
            delta_std: vec![0.1, 0.3],
            param_names: vec!["nu".into()],
            param_log: vec![true],
            param_mean: vec![-3.0],
            param_std: vec![1.0],
        };
        let cfg = StepperConfig::new(FnoConfig::new(3, 2, &[6], 8), true);
        let model = Stepper1d::new(cfg, norm, &device).unwrap();
        model.save(&dir.join("model")).unwrap();
        model
    }

    fn args(dir: &std::path::Path) -> Predict {
        Predict {
            model: dir.join("model"),
            input: dir.join("x.npy"),
            output: dir.join("y.npy"),
            params: None,
            param: vec!["nu=0.05".into()],
            steps: 2,
            channels_first: false,
        }
    }

    #[test]
    fn a_bare_fno_runs_in_either_layout() {
        let dir = tempfile::tempdir().unwrap();
        let device = Device::flex();
        device.seed(7);
        let config = FnoConfig::new(2, 3, &[4, 4], 6);
        let fno = config.init(&device);
        fno.save(&config, &dir.path().join("model")).unwrap();
        let (b, h, w) = (2, 9, 8);
        // Channel first, as neuraloperator takes it.
        let x: Vec<f32> = (0..b * 2 * h * w)
            .map(|i| (i as f32 * 0.11).cos())
            .collect();
        write_npy(&dir.path().join("xf.npy"), &[b, 2, h, w], &x).unwrap();
        let mut a = args(dir.path());
        a.input = dir.path().join("xf.npy");
        a.param.clear();
        a.steps = 1;
        a.channels_first = true;
        a.clone().run().unwrap();
        let y = read_npy(&dir.path().join("y.npy")).unwrap();
        assert_eq!(y.shape, vec![b, 3, h, w]);
        let direct = fno
            .forward(Tensor::<4>::from_data(
                TensorData::new(x.clone(), [b, 2, h, w]),
                &device,
            ))
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(y.data, direct);
        // Channel last: the same numbers, transposed.
        let mut xl = vec![0.0f32; x.len()];
        for (i, v) in x.iter().enumerate() {
            let (s, c, p) = (i / (2 * h * w), (i / (h * w)) % 2, i % (h * w));
            xl[(s * h * w + p) * 2 + c] = *v;
        }
        write_npy(&dir.path().join("xl.npy"), &[b, h, w, 2], &xl).unwrap();
        a.input = dir.path().join("xl.npy");
        a.channels_first = false;
        a.clone().run().unwrap();
        let yl = read_npy(&dir.path().join("y.npy")).unwrap();
        assert_eq!(yl.shape, vec![b, h, w, 3]);
        for (i, v) in direct.iter().enumerate() {
            let (s, c, p) = (i / (3 * h * w), (i / (h * w)) % 3, i % (h * w));
            assert_eq!(yl.data[(s * h * w + p) * 3 + c], *v);
        }
        // A wrong channel count names the layout; steps are refused.
        a.input = dir.path().join("xf.npy");
        let e = a.clone().run().unwrap_err().to_string();
        assert!(e.contains("[batch, n, n, 2]"), "{e}");
        a.channels_first = true;
        a.steps = 2;
        let e = a.clone().run().unwrap_err().to_string();
        assert!(e.contains("no --steps"), "{e}");
    }

    #[test]
    fn predicts_what_the_model_predicts_in_the_documented_layout() {
        let dir = tempfile::tempdir().unwrap();
        let model = saved_model(dir.path());
        let (b, n, c) = (3, 16, 2);
        let x: Vec<f32> = (0..b * n * c).map(|i| (i as f32 * 0.37).sin()).collect();
        write_npy(&dir.path().join("x.npy"), &[b, n, c], &x).unwrap();
        args(dir.path()).run().unwrap();
        let y = read_npy(&dir.path().join("y.npy")).unwrap();
        assert_eq!(y.shape, vec![b, 2, n, c]);
        // The same two steps directly, sample 1, in model layout.
        let device = Device::flex();
        let mut state = Vec::new();
        frames_to_model(&x[n * c..2 * n * c], n, c, &mut state);
        let u = Tensor::<3>::from_data(TensorData::new(state, [1, c, n]), &device);
        let u = model.step(model.step(u, &[0.05]), &[0.05]);
        let direct = frames_to_stored(&u.into_data().try_to_vec::<f32>().unwrap(), 1, c, n);
        let got = &y.data[(2 + 1) * n * c..(2 + 2) * n * c];
        for (a, d) in got.iter().zip(&direct) {
            assert!((a - d).abs() < 1e-5, "{a} vs {d}");
        }
    }

    #[test]
    fn a_history_model_takes_its_window_and_slides_it() {
        let dir = tempfile::tempdir().unwrap();
        let device = Device::flex();
        device.seed(5);
        let norm = Normalization {
            field_mean: vec![0.0],
            field_std: vec![1.0],
            delta_mean: vec![0.0],
            delta_std: vec![0.2],
            param_names: vec![],
            param_log: vec![],
            param_mean: vec![],
            param_std: vec![],
        };
        let cfg = StepperConfig {
            history: 2,
            ..StepperConfig::new(FnoConfig::new(2, 1, &[6], 8), true)
        };
        let model = Stepper1d::new(cfg, norm, &device).unwrap();
        model.save(&dir.path().join("model")).unwrap();
        let (b, n) = (2, 16);
        let x: Vec<f32> = (0..b * 2 * n).map(|i| (i as f32 * 0.21).cos()).collect();
        write_npy(&dir.path().join("x.npy"), &[b, 2, n, 1], &x).unwrap();
        let mut a = args(dir.path());
        a.param.clear();
        a.steps = 3;
        a.clone().run().unwrap();
        let y = read_npy(&dir.path().join("y.npy")).unwrap();
        assert_eq!(y.shape, vec![b, 3, n, 1]);
        // Sample 1 directly: the window [x0, x1], then [x1, y0], then [y0, y1].
        let w = Tensor::<3>::from_data(TensorData::new(x[2 * n..].to_vec(), [1, 2, n]), &device);
        let y0 = model.step(w.clone(), &[]);
        let w = model.frame().advance(w, y0.clone());
        let y1 = model.step(w.clone(), &[]);
        let y2 = model.step(model.frame().advance(w, y1.clone()), &[]);
        let direct: Vec<f32> = [y0, y1, y2]
            .into_iter()
            .flat_map(|t| t.into_data().try_to_vec::<f32>().unwrap())
            .collect();
        for (a, d) in y.data[3 * n..].iter().zip(&direct) {
            assert!((a - d).abs() < 1e-5, "{a} vs {d}");
        }
        // One frame per sample is not this model's layout.
        write_npy(&dir.path().join("x.npy"), &[b, n, 1], &x[..b * n]).unwrap();
        let e = a.run().unwrap_err().to_string();
        assert!(e.contains("[batch, 2, points, 1]"), "{e}");
    }

    #[test]
    fn wrong_inputs_are_named() {
        let dir = tempfile::tempdir().unwrap();
        saved_model(dir.path());
        write_npy(&dir.path().join("x.npy"), &[2, 16, 3], &[0.0; 96]).unwrap();
        let e = args(dir.path()).run().unwrap_err().to_string();
        assert!(
            e.contains("[2, 16, 3]") && e.contains("[batch, points, 2]"),
            "{e}"
        );
        write_npy(&dir.path().join("x.npy"), &[2, 16, 2], &[0.0; 64]).unwrap();
        let mut a = args(dir.path());
        a.param = vec!["mu=1".into()];
        let e = a.run().unwrap_err().to_string();
        assert!(e.contains("no parameter `mu`"), "{e}");
        let mut a = args(dir.path());
        a.param.clear();
        let e = a.run().unwrap_err().to_string();
        assert!(e.contains("needs parameter `nu`"), "{e}");
        write_npy(&dir.path().join("p.npy"), &[3, 1], &[0.1; 3]).unwrap();
        let mut a = args(dir.path());
        a.param.clear();
        a.params = Some(dir.path().join("p.npy"));
        let e = a.run().unwrap_err().to_string();
        assert!(e.contains("expected [2, 1]"), "{e}");
        let mut x = vec![0.0f32; 64];
        x[5] = f32::NAN;
        write_npy(&dir.path().join("x.npy"), &[2, 16, 2], &x).unwrap();
        let e = args(dir.path()).run().unwrap_err().to_string();
        assert!(e.contains("flat index 5"), "{e}");
        assert!(!dir.path().join("y.npy").exists(), "no output on error");
    }
}
