//! Decoding tensor values to `f32`, for every [`Layout`], in whole or by row blocks.
//!
//! Memory bound: reading a tensor allocates its f32 size and nothing proportional to the file;
//! [`Checkpoint::read_rows`] lets callers stream rows into their own buffer.

use std::borrow::Cow;

use taoke_dtype::{decode_f32, Dtype};

use crate::{Checkpoint, Error, Layout, PackedEncoding, Result, TensorInfo};

/// Largest tensor [`Checkpoint::read_f32`] will materialize, in elements (16 GiB of f32).
/// Larger tensors must be streamed with [`Checkpoint::read_rows`].
pub const MAX_READ_ELEMS: u64 = 1 << 32;

/// Reads of at least this many bytes release their mapped pages afterwards (smaller ones, such
/// as norm vectors, would only trade a few pages for page faults).
const RELEASE_MIN_BYTES: u64 = 1 << 20;

impl Checkpoint {
    /// Reads a whole tensor as f32 values in row-major order.
    pub fn read_f32(&self, t: &TensorInfo) -> Result<Vec<f32>> {
        let n = t.n_elements();
        if n > MAX_READ_ELEMS {
            return Err(self.tensor_err(
                t,
                format!("{n} elements is too many to read at once; stream rows instead"),
            ));
        }
        let (rows, _) = t.rows_cols();
        let mut out = vec![0f32; n as usize];
        self.read_rows(t, 0, rows, &mut out)?;
        Ok(out)
    }

    /// Reads rows `[start, start + count)` (rows as in [`TensorInfo::rows_cols`]) into `out`,
    /// which must hold exactly `count × row length` values.
    pub fn read_rows(&self, t: &TensorInfo, start: u64, count: u64, out: &mut [f32]) -> Result<()> {
        let (rows, cols) = t.rows_cols();
        let end = start
            .checked_add(count)
            .filter(|&e| e <= rows)
            .ok_or_else(|| self.tensor_err(t, format!("rows [{start}, +{count}) out of {rows}")))?;
        let n = (end - start)
            .checked_mul(cols)
            .ok_or_else(|| self.tensor_err(t, "row range overflows"))?;
        if out.len() as u64 != n {
            return Err(self.tensor_err(
                t,
                format!("output buffer holds {} values, rows need {n}", out.len()),
            ));
        }
        let first = start * cols;
        self.read_range(t, &t.layout, first, out)
            .map_err(|m| self.tensor_err(t, m))
    }

    fn tensor_err(&self, t: &TensorInfo, message: impl ToString) -> Error {
        let file = match &t.layout {
            Layout::Dense { file, .. }
            | Layout::Strided { file, .. }
            | Layout::Packed { file, .. } => *file,
            Layout::Affine { q, .. } => match **q {
                Layout::Dense { file, .. } | Layout::Packed { file, .. } => file,
                _ => 0,
            },
        };
        let path = self
            .files
            .get(file)
            .map(|f| f.path.clone())
            .unwrap_or_else(|| self.path.clone());
        Error::tensor(path, &t.name, message)
    }

    fn bytes(&self, file: usize, offset: u64, len: u64) -> Result<Cow<'_, [u8]>, String> {
        let f = self
            .files
            .get(file)
            .ok_or_else(|| format!("file index {file} out of range"))?;
        f.read_at(offset, len).map_err(|e| e.to_string())
    }

    /// Decodes elements `[first, first + out.len())` of `layout` (flat row-major index).
    fn read_range(
        &self,
        t: &TensorInfo,
        layout: &Layout,
        first: u64,
        out: &mut [f32],
    ) -> Result<(), String> {
        match layout {
            Layout::Dense {
                file,
                offset,
                len,
                dtype,
            } => {
                let n = out.len() as u64;
                let block = dtype.block_elems();
                if !first.is_multiple_of(block) || !n.is_multiple_of(block) {
                    return Err(format!(
                        "range [{first}, +{n}) is not aligned to {dtype} blocks of {block}"
                    ));
                }
                let skip = dtype
                    .bytes_for(first)
                    .ok_or_else(|| format!("cannot address element {first} of {dtype}"))?;
                let want = dtype
                    .bytes_for(n)
                    .ok_or_else(|| format!("cannot decode {dtype}"))?;
                if skip.checked_add(want).is_none_or(|e| e > *len) {
                    return Err(format!("elements past the stored {len} bytes"));
                }
                let bytes = self.bytes(*file, offset + skip, want)?;
                let r = decode_f32(*dtype, &bytes, out).map_err(|e| e.to_string());
                drop(bytes);
                if want >= RELEASE_MIN_BYTES {
                    // Done with these bytes: drop them from this process's resident set (the
                    // page cache keeps them, so a later read is a cheap fault), so passes over
                    // models larger than memory keep a bounded RSS.
                    if let Some(f) = self.files.get(*file) {
                        f.release(offset + skip, want);
                    }
                }
                r
            }
            Layout::Strided {
                file,
                storage_offset,
                storage_elems,
                dtype,
                elem_offset,
                strides,
            } => {
                if dtype.is_block_quantized() {
                    return Err(format!("strided {dtype} storage is not supported"));
                }
                let esize = dtype
                    .bytes_for(1)
                    .ok_or_else(|| format!("cannot address {dtype} elements"))?;
                // Highest element index the view touches, checked against the storage.
                let mut max = *elem_offset;
                for (d, s) in t.shape.iter().zip(strides) {
                    if *d > 0 {
                        max = max
                            .checked_add((d - 1).checked_mul(*s).ok_or("stride overflow")?)
                            .ok_or("stride overflow")?;
                    }
                }
                if t.n_elements() > 0 && max >= *storage_elems {
                    return Err(format!(
                        "view reaches element {max} of a storage of {storage_elems}"
                    ));
                }
                let storage = self.bytes(*file, *storage_offset, storage_elems * esize)?;
                let mut idx = vec![0u64; t.shape.len()];
                // Unravel `first` into a multi-index.
                let mut rem = first;
                for i in (0..t.shape.len()).rev() {
                    let d = t.shape[i].max(1);
                    idx[i] = rem % d;
                    rem /= d;
                }
                let mut one = [0f32; 1];
                for o in out.iter_mut() {
                    let pos =
                        elem_offset + idx.iter().zip(strides).map(|(i, s)| i * s).sum::<u64>();
                    let b = (pos * esize) as usize;
                    decode_f32(*dtype, &storage[b..b + esize as usize], &mut one)
                        .map_err(|e| e.to_string())?;
                    *o = one[0];
                    for i in (0..idx.len()).rev() {
                        idx[i] += 1;
                        if idx[i] < t.shape[i] {
                            break;
                        }
                        idx[i] = 0;
                    }
                }
                Ok(())
            }
            Layout::Packed {
                file,
                offset,
                len,
                encoding,
            } => {
                let bytes = self.bytes(*file, *offset, *len)?;
                decode_packed(&bytes, *encoding, first, out)
            }
            Layout::Affine {
                q,
                scale,
                zero_point,
                axis,
            } => {
                self.read_range(t, q, first, out)?;
                let count = match axis {
                    None => 1,
                    Some(a) => *t
                        .shape
                        .get(*a)
                        .ok_or_else(|| format!("axis {a} out of range"))?,
                };
                let mut s = vec![0f32; count as usize];
                self.read_range(t, scale, 0, &mut s)?;
                let mut z = vec![0f32; count as usize];
                if let Some(zp) = zero_point {
                    self.read_range(t, zp, 0, &mut z)?;
                }
                // Elements between consecutive indices of `axis`.
                let inner: u64 = match axis {
                    None => 1,
                    Some(a) => t.shape[a + 1..].iter().product(),
                };
                for (i, o) in out.iter_mut().enumerate() {
                    let k = match axis {
                        None => 0,
                        Some(_) => ((first + i as u64) / inner.max(1) % count) as usize,
                    };
                    *o = (*o - z[k]) * s[k];
                }
                Ok(())
            }
        }
    }
}

fn read_varint(b: &[u8], pos: &mut usize) -> Result<u64, String> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*pos).ok_or("truncated varint")?;
        *pos += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err("varint longer than 10 bytes".into())
}

fn decode_packed(
    bytes: &[u8],
    enc: PackedEncoding,
    first: u64,
    out: &mut [f32],
) -> Result<(), String> {
    let n = out.len();
    match enc {
        PackedEncoding::F32 | PackedEncoding::F64 => {
            let (w, d) = if enc == PackedEncoding::F32 {
                (4, Dtype::F32)
            } else {
                (8, Dtype::F64)
            };
            let s = (first as usize).checked_mul(w).ok_or("offset overflow")?;
            let e = s.checked_add(n * w).ok_or("offset overflow")?;
            let b = bytes.get(s..e).ok_or("packed field holds too few values")?;
            decode_f32(d, b, out).map_err(|e| e.to_string())
        }
        PackedEncoding::Int32Varint(_)
        | PackedEncoding::Int64Varint
        | PackedEncoding::Uint64Varint => {
            let mut pos = 0usize;
            for _ in 0..first {
                read_varint(bytes, &mut pos)?;
            }
            for o in out.iter_mut() {
                let v = read_varint(bytes, &mut pos)?;
                *o = match enc {
                    PackedEncoding::Int32Varint(Dtype::F16) => {
                        half::f16::from_bits(v as u16).to_f32()
                    }
                    PackedEncoding::Int32Varint(Dtype::BF16) => {
                        f32::from_bits(u32::from(v as u16) << 16)
                    }
                    PackedEncoding::Int32Varint(Dtype::U8 | Dtype::U16 | Dtype::Bool) => {
                        (v as u32) as f32
                    }
                    PackedEncoding::Int32Varint(_) => (v as i64 as i32) as f32,
                    PackedEncoding::Int64Varint => v as i64 as f32,
                    _ => v as f32,
                };
            }
            Ok(())
        }
    }
}
