//! A read-only Zarr store served over HTTP(S), for [`TrajectoryCollection::open_url`].
//!
//! Keys are fetched with `GET <root>/<key>`; partial reads send a `Range` header and accept
//! either a `206 Partial Content` answer or, from servers that ignore ranges, a full `200`
//! body that is then cut locally. A `404` (or `403`, as object stores answer for absent keys)
//! means the key does not exist, which Zarr reads as "chunk not written".
//!
//! Written on `ureq` (pure Rust, rustls) rather than on `zarrs_http`, whose `reqwest`
//! dependency brings tokio and OpenSSL's headers into every build.
//!
//! [`TrajectoryCollection::open_url`]: crate::TrajectoryCollection::open_url

use std::time::Duration;

use zarrs_storage::byte_range::{ByteRange, ByteRangeIterator};
use zarrs_storage::{
    Bytes, MaybeBytes, MaybeBytesIterator, ReadableStorageTraits, StorageError, StoreKey,
};

use crate::{DataError, Result};

/// Largest value one request may return (a whole shard of a big trajectory fits).
const MAX_BODY: u64 = 1 << 34;

/// A Zarr store read over HTTP(S).
#[derive(Debug)]
pub struct HttpStore {
    base: String,
    agent: ureq::Agent,
}

impl HttpStore {
    /// A store whose root is `url` (`http://` or `https://`).
    pub fn new(url: &str) -> Result<Self> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(DataError::Config {
                what: format!("store URL {url:?}"),
                message: "must start with http:// or https://".into(),
            });
        }
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build();
        Ok(Self {
            base: url.trim_end_matches('/').to_string(),
            agent: ureq::Agent::new_with_config(config),
        })
    }

    fn url(&self, key: &StoreKey) -> String {
        format!("{}/{}", self.base, key.as_str())
    }

    /// GET with an optional `Range` header; `None` when the key does not exist.
    fn fetch(
        &self,
        key: &StoreKey,
        range: Option<String>,
    ) -> std::result::Result<Option<(u16, Vec<u8>)>, StorageError> {
        let url = self.url(key);
        let mut request = self.agent.get(&url);
        if let Some(r) = &range {
            request = request.header("Range", r);
        }
        let mut response = request
            .call()
            .map_err(|e| StorageError::Other(format!("GET {url}: {e}")))?;
        let status = response.status().as_u16();
        match status {
            200 | 206 => {
                let body = response
                    .body_mut()
                    .with_config()
                    .limit(MAX_BODY)
                    .read_to_vec()
                    .map_err(|e| {
                        StorageError::Other(format!("GET {url}: reading the body: {e}"))
                    })?;
                Ok(Some((status, body)))
            }
            404 | 403 => Ok(None),
            // The key exists but the range lies past its end: only a zero-length read does
            // that, and Zarr never asks for one.
            s => Err(StorageError::Other(format!("GET {url}: HTTP status {s}"))),
        }
    }
}

/// The bytes `range` selects out of a whole value of `len` bytes.
fn cut(value: &[u8], range: &ByteRange) -> std::result::Result<Bytes, StorageError> {
    let len = value.len() as u64;
    let (start, end) = match *range {
        ByteRange::FromStart(offset, None) => (offset, len),
        ByteRange::FromStart(offset, Some(n)) => (offset, offset + n),
        ByteRange::Suffix(n) => (len.saturating_sub(n), len),
    };
    if start > end || end > len {
        return Err(StorageError::Other(format!(
            "byte range {range:?} lies outside a value of {len} bytes"
        )));
    }
    Ok(Bytes::copy_from_slice(&value[start as usize..end as usize]))
}

fn header(range: &ByteRange) -> String {
    match *range {
        ByteRange::FromStart(offset, None) => format!("bytes={offset}-"),
        ByteRange::FromStart(offset, Some(n)) => format!("bytes={offset}-{}", offset + n - 1),
        ByteRange::Suffix(n) => format!("bytes=-{n}"),
    }
}

impl ReadableStorageTraits for HttpStore {
    fn get(&self, key: &StoreKey) -> std::result::Result<MaybeBytes, StorageError> {
        Ok(self.fetch(key, None)?.map(|(_, body)| Bytes::from(body)))
    }

    fn get_partial_many<'a>(
        &'a self,
        key: &StoreKey,
        byte_ranges: ByteRangeIterator<'a>,
    ) -> std::result::Result<MaybeBytesIterator<'a>, StorageError> {
        let mut out = Vec::new();
        // Fetched once if the server ignores ranges, and reused for the other ranges.
        let mut whole: Option<Vec<u8>> = None;
        for range in byte_ranges {
            if let Some(value) = &whole {
                out.push(cut(value, &range));
                continue;
            }
            if matches!(range, ByteRange::FromStart(_, Some(0))) {
                out.push(Ok(Bytes::new()));
                continue;
            }
            match self.fetch(key, Some(header(&range)))? {
                None => return Ok(None),
                Some((206, body)) => {
                    let expected = match range {
                        ByteRange::FromStart(_, Some(n)) | ByteRange::Suffix(n) => Some(n),
                        ByteRange::FromStart(_, None) => None,
                    };
                    if expected.is_some_and(|n| n != body.len() as u64) {
                        return Err(StorageError::Other(format!(
                            "GET {}: asked for {range:?}, the server sent {} bytes",
                            self.url(key),
                            body.len()
                        )));
                    }
                    out.push(Ok(Bytes::from(body)));
                }
                Some((_, body)) => {
                    out.push(cut(&body, &range));
                    whole = Some(body);
                }
            }
        }
        Ok(Some(Box::new(out.into_iter())))
    }

    fn size_key(&self, key: &StoreKey) -> std::result::Result<Option<u64>, StorageError> {
        let url = self.url(key);
        let response = self
            .agent
            .head(&url)
            .call()
            .map_err(|e| StorageError::Other(format!("HEAD {url}: {e}")))?;
        match response.status().as_u16() {
            200 => {
                if let Some(n) = response
                    .headers()
                    .get("content-length")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                {
                    Ok(Some(n))
                } else {
                    Ok(self.get(key)?.map(|b| b.len() as u64))
                }
            }
            404 | 403 => Ok(None),
            s => Err(StorageError::Other(format!("HEAD {url}: HTTP status {s}"))),
        }
    }

    fn supports_get_partial(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cut_and_format() {
        let v: Vec<u8> = (0..10).collect();
        assert_eq!(
            &cut(&v, &ByteRange::FromStart(2, Some(3))).unwrap()[..],
            &[2, 3, 4]
        );
        assert_eq!(&cut(&v, &ByteRange::Suffix(2)).unwrap()[..], &[8, 9]);
        assert_eq!(
            &cut(&v, &ByteRange::FromStart(7, None)).unwrap()[..],
            &[7, 8, 9]
        );
        assert!(cut(&v, &ByteRange::FromStart(8, Some(5))).is_err());
        assert_eq!(header(&ByteRange::FromStart(2, Some(3))), "bytes=2-4");
        assert_eq!(header(&ByteRange::Suffix(16)), "bytes=-16");
        assert_eq!(header(&ByteRange::FromStart(5, None)), "bytes=5-");
        assert!(HttpStore::new("ftp://x").is_err());
    }
}
