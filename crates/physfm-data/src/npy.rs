//! NumPy `.npy` arrays of `f32`: how physfm exchanges single arrays with other tools
//! (`cargo xtask metrics`, `cargo xtask predict`).
//!
//! Reading accepts C-ordered `float32` or `float64` arrays of either byte order (`float64`
//! values are rounded to `f32`; one that does not fit is an error); other dtypes,
//! Fortran order and pickled object arrays are refused with a message naming what was
//! found. Writing produces a little-endian `float32` array in C order, atomically
//! (temporary file, then rename).
//!
//! ```
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("x.npy");
//! physfm_data::write_npy(&path, &[2, 3], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0])?;
//! let a = physfm_data::read_npy(&path)?;
//! assert_eq!(a.shape, vec![2, 3]);
//! assert_eq!(a.data[4], 4.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::Path;

use npyz::WriterBuilder;

use crate::collection::write_atomically;
use crate::{DataError, Result};

/// A dense row-major `f32` array read from a `.npy` file.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// The shape (empty for a scalar).
    pub shape: Vec<usize>,
    /// The values in C (row-major) order.
    pub data: Vec<f32>,
}

fn npy_err(path: &Path, message: impl Into<String>) -> DataError {
    DataError::Npy {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Reads a `.npy` file of `float32` or `float64` values into `f32`.
pub fn read_npy(path: &Path) -> Result<NpyArray> {
    let bytes = std::fs::read(path).map_err(|e| npy_err(path, e.to_string()))?;
    let file = npyz::NpyFile::new(&bytes[..])
        .map_err(|e| npy_err(path, format!("not a readable .npy file: {e}")))?;
    if file.order() != npyz::Order::C {
        return Err(npy_err(
            path,
            "the array is in Fortran order; save it in C order (numpy.ascontiguousarray)",
        ));
    }
    let shape: Vec<usize> = file.shape().iter().map(|&d| d as usize).collect();
    let dtype = file.dtype();
    let descr = dtype.descr();
    let data = match &dtype {
        npyz::DType::Plain(ts)
            if ts.type_char() == npyz::TypeChar::Float && ts.size_field() == 4 =>
        {
            file.into_vec::<f32>()
                .map_err(|e| npy_err(path, format!("reading the float32 values: {e}")))?
        }
        npyz::DType::Plain(ts)
            if ts.type_char() == npyz::TypeChar::Float && ts.size_field() == 8 =>
        {
            let wide = file
                .into_vec::<f64>()
                .map_err(|e| npy_err(path, format!("reading the float64 values: {e}")))?;
            if let Some(i) = wide
                .iter()
                .position(|v| v.is_finite() && v.abs() > f32::MAX as f64)
            {
                return Err(npy_err(
                    path,
                    format!(
                        "float64 value {} at flat index {i} does not fit in float32",
                        wide[i]
                    ),
                ));
            }
            wide.into_iter().map(|v| v as f32).collect()
        }
        _ => {
            return Err(npy_err(
                path,
                format!(
                    "dtype {descr} is not supported; expected float32 ('<f4') or float64 ('<f8')"
                ),
            ));
        }
    };
    let expected: usize = shape.iter().product();
    if data.len() != expected {
        return Err(npy_err(
            path,
            format!(
                "shape {shape:?} holds {expected} values but the file has {}",
                data.len()
            ),
        ));
    }
    Ok(NpyArray { shape, data })
}

/// Writes `data` (C order) with `shape` as a little-endian `float32` `.npy` file,
/// atomically.
pub fn write_npy(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    let expected: usize = shape.iter().product();
    if data.len() != expected {
        return Err(DataError::Shape {
            what: format!("array for {}", path.display()),
            expected: format!("{expected} values for shape {shape:?}"),
            got: data.len().to_string(),
        });
    }
    let dims: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    let mut bytes = Vec::with_capacity(128 + 4 * data.len());
    {
        let mut w = npyz::WriteOptions::<f32>::new()
            .default_dtype()
            .shape(&dims)
            .writer(&mut bytes)
            .begin_nd()
            .map_err(|e| npy_err(path, e.to_string()))?;
        w.extend(data.iter().copied())
            .map_err(|e| npy_err(path, e.to_string()))?;
        w.finish().map_err(|e| npy_err(path, e.to_string()))?;
    }
    write_atomically(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-made `.npy` file: magic, version 1.0, a padded header, then the data.
    fn npy_bytes(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
        let mut header = format!(
            "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
            if fortran { "True" } else { "False" }
        );
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((header.len() as u16).to_le_bytes());
        out.extend(header.as_bytes());
        out.extend(data);
        out
    }

    #[test]
    fn reads_float64_and_big_endian_and_refuses_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        let f64s: Vec<u8> = [1.5f64, -2.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        std::fs::write(&p, npy_bytes("<f8", false, "(2,)", &f64s)).unwrap();
        assert_eq!(read_npy(&p).unwrap().data, vec![1.5, -2.0]);
        let be: Vec<u8> = [3.0f32, 4.0].iter().flat_map(|v| v.to_be_bytes()).collect();
        std::fs::write(&p, npy_bytes(">f4", false, "(1, 2)", &be)).unwrap();
        let a = read_npy(&p).unwrap();
        assert_eq!((a.shape, a.data), (vec![1, 2], vec![3.0, 4.0]));

        std::fs::write(&p, npy_bytes("<i4", false, "(2,)", &[0; 8])).unwrap();
        let e = read_npy(&p).unwrap_err().to_string();
        assert!(e.contains("<i4") && e.contains("not supported"), "{e}");
        std::fs::write(&p, npy_bytes("<f4", true, "(2, 2)", &[0; 16])).unwrap();
        let e = read_npy(&p).unwrap_err().to_string();
        assert!(e.contains("Fortran"), "{e}");
        std::fs::write(&p, npy_bytes("<f4", false, "(2, 2)", &[0; 12])).unwrap();
        assert!(read_npy(&p).is_err(), "a truncated file is an error");
        let big: Vec<u8> = [1e300f64].iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(&p, npy_bytes("<f8", false, "(1,)", &big)).unwrap();
        let e = read_npy(&p).unwrap_err().to_string();
        assert!(e.contains("does not fit"), "{e}");
        std::fs::write(&p, b"not numpy").unwrap();
        let e = read_npy(&p).unwrap_err().to_string();
        assert!(
            e.contains("a.npy") && e.contains("not a readable .npy"),
            "{e}"
        );
    }

    #[test]
    fn write_refuses_a_wrong_length_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b.npy");
        assert!(write_npy(&p, &[2, 2], &[0.0; 3]).is_err());
        assert!(!p.exists());
        write_npy(&p, &[2, 1, 2], &[1.0, f32::NAN, -0.5, 7.0]).unwrap();
        let a = read_npy(&p).unwrap();
        assert_eq!(a.shape, vec![2, 1, 2]);
        assert!(a.data[1].is_nan() && a.data[3] == 7.0);
    }
}
