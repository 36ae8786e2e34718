//! A small, strict reader for the zip container written by `torch.save`.
//!
//! Only what a checkpoint needs: the end-of-central-directory record (and its ZIP64 locator
//! and record for archives past 4 GiB or 65,535 entries), the central directory (with ZIP64
//! extra fields) and each entry's local header, to find where its data starts. Entries are
//! either STORED (method 0: returned as zero-copy slices of the input) or DEFLATEd (method 8:
//! inflated with `miniz_oxide` under a size cap and a ratio cap, then CRC-checked).
//!
//! Validation: every offset and length is checked against the buffer with checked arithmetic;
//! entries may not overlap each other or the central directory; names must be unique UTF-8
//! of at most [`MAX_NAME_LEN`] bytes; at most [`MAX_ENTRIES`] entries; encrypted entries and
//! multi-disk archives are refused. Nothing here knows about torch.

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::Error;

/// Most entries accepted in one archive.
pub const MAX_ENTRIES: u64 = 1 << 20;
/// Longest entry name accepted, in bytes.
pub const MAX_NAME_LEN: u64 = 4096;
/// Largest deflate expansion ratio accepted (deflate itself cannot exceed about 1032:1).
pub const MAX_DEFLATE_RATIO: u64 = 1100;

const EOCD_SIG: u32 = 0x0605_4b50;
const EOCD_LEN: usize = 22;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const ZIP64_LOCATOR_LEN: usize = 20;
const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
const ZIP64_EOCD_LEN: usize = 56;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const CENTRAL_LEN: usize = 46;
const LOCAL_SIG: u32 = 0x0403_4b50;
const LOCAL_LEN: usize = 30;
const ZIP64_EXTRA_ID: u16 = 0x0001;

/// Compression method: stored.
pub const METHOD_STORED: u16 = 0;
/// Compression method: deflate.
pub const METHOD_DEFLATE: u16 = 8;

/// One entry of the central directory, with the data position resolved from its local header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipEntry {
    /// Entry name (a `/`-separated path).
    pub name: String,
    /// Compression method (0 stored, 8 deflate).
    pub method: u16,
    /// General-purpose flags.
    pub flags: u16,
    /// CRC-32 of the uncompressed data.
    pub crc32: u32,
    /// Length of the stored (possibly compressed) data.
    pub compressed_len: u64,
    /// Length of the uncompressed data.
    pub len: u64,
    /// Offset of the local file header.
    pub header_offset: u64,
    /// Offset of the first data byte.
    pub data_offset: u64,
}

/// A parsed zip archive over a byte buffer (typically a memory map of the whole file).
#[derive(Debug, Clone)]
pub struct ZipArchive<'a> {
    bytes: &'a [u8],
    entries: Vec<ZipEntry>,
    by_name: BTreeMap<String, usize>,
}

fn rd_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn rd_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn rd_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// `bytes[offset..offset + needed]`, or a truncation error naming `what`.
fn slice_at<'a>(
    bytes: &'a [u8],
    offset: u64,
    needed: u64,
    what: &'static str,
) -> Result<&'a [u8], Error> {
    let trunc = || Error::ZipTruncated {
        what,
        offset,
        needed,
        len: bytes.len() as u64,
    };
    let end = offset.checked_add(needed).ok_or_else(trunc)?;
    if end > bytes.len() as u64 {
        return Err(trunc());
    }
    // Both fit in the buffer length, hence in usize.
    Ok(&bytes[offset as usize..end as usize])
}

fn invalid(what: &'static str, detail: String) -> Error {
    Error::ZipInvalid { what, detail }
}

/// What the (ZIP64) end-of-central-directory records say.
struct Directory {
    /// Where the central directory starts.
    cd_offset: u64,
    /// Its length.
    cd_len: u64,
    /// Number of entries.
    count: u64,
    /// Where the first end record starts (entries and directory must end before it).
    end: u64,
}

impl<'a> ZipArchive<'a> {
    /// Parses the central directory and every local header. Entry data is not read.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        let dir = find_directory(bytes)?;
        if dir.count > MAX_ENTRIES {
            return Err(Error::ZipCap {
                what: "entry count",
                value: dir.count,
                cap: MAX_ENTRIES,
            });
        }
        // needed <= remaining before allocating: each entry takes at least CENTRAL_LEN bytes.
        if dir.count.saturating_mul(CENTRAL_LEN as u64) > dir.cd_len {
            return Err(invalid(
                "central directory",
                format!("{} entries cannot fit in {} bytes", dir.count, dir.cd_len),
            ));
        }
        dir.cd_offset
            .checked_add(dir.cd_len)
            .filter(|&e| e <= dir.end)
            .ok_or_else(|| {
                invalid(
                    "central directory",
                    format!(
                        "{} bytes at {} run past the end records at {}",
                        dir.cd_len, dir.cd_offset, dir.end
                    ),
                )
            })?;
        let cd = slice_at(bytes, dir.cd_offset, dir.cd_len, "central directory")?;

        let mut entries = Vec::with_capacity(dir.count as usize);
        let mut by_name = BTreeMap::new();
        let mut at = 0usize;
        for _ in 0..dir.count {
            let (entry, next) = parse_central(bytes, cd, at, dir.cd_offset)?;
            at = next;
            if by_name.insert(entry.name.clone(), entries.len()).is_some() {
                return Err(Error::ZipDuplicate { name: entry.name });
            }
            entries.push(entry);
        }

        // Local headers: resolve data offsets, then check ranges and overlaps.
        for e in &mut entries {
            resolve_local(bytes, e)?;
        }
        let mut spans: Vec<(u64, u64, usize)> = Vec::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            let end = e.data_offset.checked_add(e.compressed_len).ok_or_else(|| {
                Error::ZipEntryRange {
                    name: e.name.clone(),
                    start: e.header_offset,
                    end: u64::MAX,
                    problem: "overflowing".into(),
                }
            })?;
            if end > dir.cd_offset {
                return Err(Error::ZipEntryRange {
                    name: e.name.clone(),
                    start: e.header_offset,
                    end,
                    problem: format!("beyond the central directory at byte {}", dir.cd_offset),
                });
            }
            spans.push((e.header_offset, end, i));
        }
        spans.sort_unstable();
        for w in spans.windows(2) {
            let (prev, next) = (w[0], w[1]);
            if next.0 < prev.1 {
                return Err(Error::ZipEntryRange {
                    name: entries[next.2].name.clone(),
                    start: next.0,
                    end: next.1,
                    problem: format!(
                        "overlapping `{}` ({}..{})",
                        entries[prev.2].name, prev.0, prev.1
                    ),
                });
            }
        }
        Ok(ZipArchive {
            bytes,
            entries,
            by_name,
        })
    }

    /// All entries, in central-directory order.
    pub fn entries(&self) -> &[ZipEntry] {
        &self.entries
    }

    /// The entry with this exact name.
    pub fn find(&self, name: &str) -> Option<&ZipEntry> {
        self.by_name.get(name).map(|&i| &self.entries[i])
    }

    /// The raw data of a STORED entry, without copying (CRC not checked: storages can be
    /// gigabytes). Any other method is an error naming `reason`.
    pub fn stored(&self, entry: &ZipEntry, reason: &'static str) -> Result<&'a [u8], Error> {
        if entry.method != METHOD_STORED {
            return Err(Error::ZipMethod {
                name: entry.name.clone(),
                method: entry.method,
                reason,
            });
        }
        slice_at(
            self.bytes,
            entry.data_offset,
            entry.compressed_len,
            "entry data",
        )
    }

    /// The uncompressed data of a STORED or DEFLATEd entry of at most `cap` bytes, CRC-checked.
    ///
    /// A deflated entry must also declare a size within [`MAX_DEFLATE_RATIO`] times its
    /// compressed size, and must inflate to exactly its declared size (zip-bomb guard: the
    /// inflater never writes more than the declared size).
    pub fn read(&self, entry: &ZipEntry, cap: u64) -> Result<Cow<'a, [u8]>, Error> {
        let name = || entry.name.clone();
        if entry.len > cap {
            return Err(Error::ZipBomb {
                name: name(),
                len: entry.len,
                cap,
            });
        }
        let raw = slice_at(
            self.bytes,
            entry.data_offset,
            entry.compressed_len,
            "entry data",
        )?;
        let data: Cow<'a, [u8]> = match entry.method {
            METHOD_STORED => Cow::Borrowed(raw),
            METHOD_DEFLATE => {
                let ratio_cap = entry
                    .compressed_len
                    .saturating_mul(MAX_DEFLATE_RATIO)
                    .saturating_add(1024);
                if entry.len > ratio_cap {
                    return Err(Error::ZipBomb {
                        name: name(),
                        len: entry.len,
                        cap: ratio_cap,
                    });
                }
                // entry.len <= cap, which the caller keeps small enough for memory.
                let limit = usize::try_from(entry.len).map_err(|_| Error::ZipBomb {
                    name: name(),
                    len: entry.len,
                    cap,
                })?;
                let out = miniz_oxide::inflate::decompress_to_vec_with_limit(raw, limit).map_err(
                    |e| {
                        if matches!(e.status, miniz_oxide::inflate::TINFLStatus::HasMoreOutput) {
                            Error::ZipBomb {
                                name: name(),
                                len: entry.len.saturating_add(1),
                                cap: entry.len,
                            }
                        } else {
                            Error::ZipInflate {
                                name: name(),
                                detail: format!("{:?}", e.status),
                            }
                        }
                    },
                )?;
                if out.len() as u64 != entry.len {
                    return Err(Error::ZipInflate {
                        name: name(),
                        detail: format!("inflated to {} bytes, declared {}", out.len(), entry.len),
                    });
                }
                Cow::Owned(out)
            }
            m => {
                return Err(Error::ZipMethod {
                    name: name(),
                    method: m,
                    reason: "only stored (0) and deflate (8) are supported",
                })
            }
        };
        let actual = crc32(&data);
        if actual != entry.crc32 {
            return Err(Error::ZipCrc {
                name: name(),
                expected: entry.crc32,
                actual,
            });
        }
        Ok(data)
    }
}

fn find_directory(bytes: &[u8]) -> Result<Directory, Error> {
    if bytes.len() < EOCD_LEN {
        return Err(Error::NotZip);
    }
    // The EOCD record is the last thing in the file, followed only by its comment.
    let last = bytes.len() - EOCD_LEN;
    let first = last.saturating_sub(u16::MAX as usize);
    let pos = (first..=last)
        .rev()
        .find(|&p| {
            rd_u32(bytes, p) == EOCD_SIG
                && p + EOCD_LEN + rd_u16(bytes, p + 20) as usize == bytes.len()
        })
        .ok_or(Error::NotZip)?;
    let eocd = &bytes[pos..pos + EOCD_LEN];
    let disk = rd_u16(eocd, 4);
    let cd_disk = rd_u16(eocd, 6);
    let on_disk = rd_u16(eocd, 8);
    let mut count = u64::from(rd_u16(eocd, 10));
    let mut cd_len = u64::from(rd_u32(eocd, 12));
    let mut cd_offset = u64::from(rd_u32(eocd, 16));
    let mut end = pos as u64;

    let has_locator =
        pos >= ZIP64_LOCATOR_LEN && rd_u32(bytes, pos - ZIP64_LOCATOR_LEN) == ZIP64_LOCATOR_SIG;
    if has_locator {
        let loc_at = pos - ZIP64_LOCATOR_LEN;
        let loc = &bytes[loc_at..pos];
        let rec_disk = rd_u32(loc, 4);
        let rec_offset = rd_u64(loc, 8);
        let disks = rd_u32(loc, 16);
        if rec_disk != 0 || disks > 1 {
            return Err(invalid(
                "zip64 locator",
                format!("multi-disk archive ({disks} disks)"),
            ));
        }
        if rec_offset > loc_at as u64 {
            return Err(invalid(
                "zip64 locator",
                format!("record offset {rec_offset} lies after the locator at {loc_at}"),
            ));
        }
        let rec = slice_at(
            bytes,
            rec_offset,
            ZIP64_EOCD_LEN as u64,
            "zip64 end of central directory",
        )?;
        if rd_u32(rec, 0) != ZIP64_EOCD_SIG {
            return Err(Error::ZipSignature {
                what: "zip64 end of central directory",
                offset: rec_offset,
            });
        }
        let rec_len = rd_u64(rec, 4);
        if rec_len < (ZIP64_EOCD_LEN - 12) as u64
            || rec_offset
                .checked_add(12)
                .and_then(|o| o.checked_add(rec_len))
                > Some(loc_at as u64)
        {
            return Err(invalid(
                "zip64 end of central directory",
                format!("record size {rec_len}"),
            ));
        }
        let (d, cd_d) = (rd_u32(rec, 16), rd_u32(rec, 20));
        let (on_d, total) = (rd_u64(rec, 24), rd_u64(rec, 32));
        if d != 0 || cd_d != 0 || on_d != total {
            return Err(invalid(
                "zip64 end of central directory",
                "multi-disk archive".into(),
            ));
        }
        count = total;
        cd_len = rd_u64(rec, 40);
        cd_offset = rd_u64(rec, 48);
        end = rec_offset;
    } else if disk != 0 || cd_disk != 0 || u64::from(on_disk) != count {
        return Err(invalid(
            "end of central directory",
            "multi-disk archive".into(),
        ));
    }
    Ok(Directory {
        cd_offset,
        cd_len,
        count,
        end,
    })
}

/// Parses the central-directory header at `cd[at..]`; returns the entry and the next position.
fn parse_central(
    bytes: &[u8],
    cd: &[u8],
    at: usize,
    cd_offset: u64,
) -> Result<(ZipEntry, usize), Error> {
    let abs = cd_offset + at as u64;
    let h = slice_at(
        cd,
        at as u64,
        CENTRAL_LEN as u64,
        "central directory header",
    )
    .map_err(|_| Error::ZipTruncated {
        what: "central directory header",
        offset: abs,
        needed: CENTRAL_LEN as u64,
        len: bytes.len() as u64,
    })?;
    if rd_u32(h, 0) != CENTRAL_SIG {
        return Err(Error::ZipSignature {
            what: "central directory header",
            offset: abs,
        });
    }
    let flags = rd_u16(h, 8);
    let method = rd_u16(h, 10);
    let crc32 = rd_u32(h, 16);
    let mut compressed_len = u64::from(rd_u32(h, 20));
    let mut len = u64::from(rd_u32(h, 24));
    let name_len = u64::from(rd_u16(h, 28));
    let extra_len = u64::from(rd_u16(h, 30));
    let comment_len = u64::from(rd_u16(h, 32));
    let disk = rd_u16(h, 34);
    let mut header_offset = u64::from(rd_u32(h, 42));
    if name_len > MAX_NAME_LEN {
        return Err(Error::ZipCap {
            what: "entry name length",
            value: name_len,
            cap: MAX_NAME_LEN,
        });
    }
    let var_len = name_len + extra_len + comment_len;
    let var = slice_at(
        cd,
        (at + CENTRAL_LEN) as u64,
        var_len,
        "central directory header",
    )
    .map_err(|_| Error::ZipTruncated {
        what: "central directory header",
        offset: abs,
        needed: CENTRAL_LEN as u64 + var_len,
        len: bytes.len() as u64,
    })?;
    let name = std::str::from_utf8(&var[..name_len as usize])
        .map_err(|_| {
            invalid(
                "entry name",
                format!("not UTF-8 (central directory header at byte {abs})"),
            )
        })?
        .to_owned();
    if flags & 1 != 0 {
        return Err(Error::ZipEncrypted { name });
    }
    let extra = &var[name_len as usize..(name_len + extra_len) as usize];

    // ZIP64 extra field: the 64-bit values present are those whose 32-bit field is saturated.
    let need_len = len == u64::from(u32::MAX);
    let need_clen = compressed_len == u64::from(u32::MAX);
    let need_off = header_offset == u64::from(u32::MAX);
    let need_disk = disk == u16::MAX;
    if need_len || need_clen || need_off || need_disk {
        let z = find_extra(extra, ZIP64_EXTRA_ID)
            .ok_or_else(|| invalid("zip64 extra field", format!("missing for entry `{name}`")))?;
        let mut p = 0usize;
        let mut take = |want: bool| -> Result<Option<u64>, Error> {
            if !want {
                return Ok(None);
            }
            if p + 8 > z.len() {
                return Err(invalid(
                    "zip64 extra field",
                    format!("too short for entry `{name}`"),
                ));
            }
            let v = rd_u64(z, p);
            p += 8;
            Ok(Some(v))
        };
        if let Some(v) = take(need_len)? {
            len = v;
        }
        if let Some(v) = take(need_clen)? {
            compressed_len = v;
        }
        if let Some(v) = take(need_off)? {
            header_offset = v;
        }
        if need_disk && (p + 4 > z.len() || rd_u32(z, p) != 0) {
            return Err(invalid("entry", format!("`{name}` lies on another disk")));
        }
    } else if disk != 0 {
        return Err(invalid("entry", format!("`{name}` lies on another disk")));
    }
    if method == METHOD_STORED && compressed_len != len {
        return Err(invalid(
            "entry",
            format!("stored entry `{name}` has compressed size {compressed_len} but size {len}"),
        ));
    }
    let entry = ZipEntry {
        name,
        method,
        flags,
        crc32,
        compressed_len,
        len,
        header_offset,
        data_offset: 0,
    };
    Ok((entry, at + CENTRAL_LEN + var_len as usize))
}

/// The payload of the extra-field block with this id.
fn find_extra(extra: &[u8], id: u16) -> Option<&[u8]> {
    let mut p = 0usize;
    while p + 4 <= extra.len() {
        let (tag, size) = (rd_u16(extra, p), rd_u16(extra, p + 2) as usize);
        let body = extra.get(p + 4..p + 4 + size)?;
        if tag == id {
            return Some(body);
        }
        p += 4 + size;
    }
    None
}

/// Reads the local header of `e` and sets its data offset.
fn resolve_local(bytes: &[u8], e: &mut ZipEntry) -> Result<(), Error> {
    let h = slice_at(
        bytes,
        e.header_offset,
        LOCAL_LEN as u64,
        "local file header",
    )?;
    if rd_u32(h, 0) != LOCAL_SIG {
        return Err(Error::ZipSignature {
            what: "local file header",
            offset: e.header_offset,
        });
    }
    let name_len = u64::from(rd_u16(h, 26));
    let extra_len = u64::from(rd_u16(h, 28));
    let name_at = e.header_offset + LOCAL_LEN as u64;
    let local_name = slice_at(bytes, name_at, name_len, "local file header")?;
    if local_name != e.name.as_bytes() {
        return Err(invalid(
            "local file header",
            format!(
                "at byte {} names a different entry than `{}`",
                e.header_offset, e.name
            ),
        ));
    }
    e.data_offset = name_at + name_len + extra_len;
    Ok(())
}

/// CRC-32 (IEEE 802.3, reflected, as used by zip).
pub fn crc32(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    };
    let mut c = u32::MAX;
    for &b in data {
        c = TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn empty_archive_parses() {
        let mut z = vec![0u8; 22];
        z[..4].copy_from_slice(&EOCD_SIG.to_le_bytes());
        let a = ZipArchive::parse(&z).expect("empty zip");
        assert!(a.entries().is_empty());
    }

    #[test]
    fn not_zip() {
        assert!(matches!(ZipArchive::parse(b"hello"), Err(Error::NotZip)));
        assert!(matches!(ZipArchive::parse(&[0u8; 100]), Err(Error::NotZip)));
    }
}
