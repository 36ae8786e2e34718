//! The [`Dtype`] enum and its storage sizes.

use std::fmt;

/// An element type, as stored in a checkpoint.
///
/// The names follow safetensors for plain types and GGML for block-quantized types.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(non_camel_case_types, missing_docs)]
pub enum Dtype {
    Bool,
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    U64,
    I64,
    F16,
    BF16,
    F32,
    F64,
    /// Complex of two f32.
    C64,
    /// OCP FP8 E4M3 (finite, no infinities; NaN = 0x7f/0xff).
    F8_E4M3,
    /// OCP FP8 E5M2 (IEEE-like).
    F8_E5M2,
    /// FP8 E4M3 "fnuz" (bias 8, NaN = 0x80, no negative zero).
    F8_E4M3FNUZ,
    /// FP8 E5M2 "fnuz" (bias 16, NaN = 0x80, no negative zero).
    F8_E5M2FNUZ,
    /// OCP E8M0 scale (power of two).
    F8_E8M0,
    /// OCP FP4 E2M1 (MXFP4 element), two per byte, low nibble first.
    F4,
    /// OCP FP6 E2M3, packed 6 bits.
    F6_E2M3,
    /// OCP FP6 E3M2, packed 6 bits.
    F6_E3M2,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q8_1,
    Q2_K,
    Q3_K,
    Q4_K,
    Q5_K,
    Q6_K,
    Q8_K,
    IQ2_XXS,
    IQ2_XS,
    IQ3_XXS,
    IQ1_S,
    IQ4_NL,
    IQ3_S,
    IQ2_S,
    IQ4_XS,
    IQ1_M,
    TQ1_0,
    TQ2_0,
    MXFP4,
    NVFP4,
    Q1_0,
    /// A type this version of taoke does not know. The format adapter keeps the name it read.
    Unknown,
}

/// How a [`Dtype`] lays its elements out in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// Each element takes this many bits; runs are packed with no padding.
    Bits(u32),
    /// Elements come in blocks of `elems`, each block taking `bytes` bytes.
    Block {
        /// Elements per block.
        elems: u32,
        /// Bytes per block.
        bytes: u32,
    },
    /// Unknown layout.
    Unknown,
}

macro_rules! dtypes {
    ($( $v:ident => $name:literal, $storage:expr, $real:literal; )*) => {
        impl Dtype {
            /// All known dtypes (not [`Dtype::Unknown`]).
            pub const ALL: &'static [Dtype] = &[$(Dtype::$v),*];

            /// The canonical name (safetensors spelling for plain types, GGML for quantized).
            pub fn name(self) -> &'static str {
                match self { $(Dtype::$v => $name,)* Dtype::Unknown => "UNKNOWN" }
            }

            /// How elements are laid out in bytes.
            pub fn storage(self) -> Storage {
                match self { $(Dtype::$v => $storage,)* Dtype::Unknown => Storage::Unknown }
            }

            /// Whether values are real numbers that [`crate::decode_f32`] can decode
            /// (floats, integers and quantized types; not booleans or complex numbers).
            pub fn is_real(self) -> bool {
                match self { $(Dtype::$v => $real,)* Dtype::Unknown => false }
            }
        }
    };
}

const fn bits(n: u32) -> Storage {
    Storage::Bits(n)
}
const fn block(elems: u32, bytes: u32) -> Storage {
    Storage::Block { elems, bytes }
}

dtypes! {
    Bool => "BOOL", bits(8), false;
    U8 => "U8", bits(8), true;
    I8 => "I8", bits(8), true;
    U16 => "U16", bits(16), true;
    I16 => "I16", bits(16), true;
    U32 => "U32", bits(32), true;
    I32 => "I32", bits(32), true;
    U64 => "U64", bits(64), true;
    I64 => "I64", bits(64), true;
    F16 => "F16", bits(16), true;
    BF16 => "BF16", bits(16), true;
    F32 => "F32", bits(32), true;
    F64 => "F64", bits(64), true;
    C64 => "C64", bits(64), false;
    F8_E4M3 => "F8_E4M3", bits(8), true;
    F8_E5M2 => "F8_E5M2", bits(8), true;
    F8_E4M3FNUZ => "F8_E4M3FNUZ", bits(8), true;
    F8_E5M2FNUZ => "F8_E5M2FNUZ", bits(8), true;
    F8_E8M0 => "F8_E8M0", bits(8), true;
    F4 => "F4", bits(4), true;
    F6_E2M3 => "F6_E2M3", bits(6), true;
    F6_E3M2 => "F6_E3M2", bits(6), true;
    Q4_0 => "Q4_0", block(32, 18), true;
    Q4_1 => "Q4_1", block(32, 20), true;
    Q5_0 => "Q5_0", block(32, 22), true;
    Q5_1 => "Q5_1", block(32, 24), true;
    Q8_0 => "Q8_0", block(32, 34), true;
    Q8_1 => "Q8_1", block(32, 36), true;
    Q2_K => "Q2_K", block(256, 84), true;
    Q3_K => "Q3_K", block(256, 110), true;
    Q4_K => "Q4_K", block(256, 144), true;
    Q5_K => "Q5_K", block(256, 176), true;
    Q6_K => "Q6_K", block(256, 210), true;
    Q8_K => "Q8_K", block(256, 292), true;
    IQ2_XXS => "IQ2_XXS", block(256, 66), true;
    IQ2_XS => "IQ2_XS", block(256, 74), true;
    IQ3_XXS => "IQ3_XXS", block(256, 98), true;
    IQ1_S => "IQ1_S", block(256, 50), true;
    IQ4_NL => "IQ4_NL", block(32, 18), true;
    IQ3_S => "IQ3_S", block(256, 110), true;
    IQ2_S => "IQ2_S", block(256, 82), true;
    IQ4_XS => "IQ4_XS", block(256, 136), true;
    IQ1_M => "IQ1_M", block(256, 56), true;
    TQ1_0 => "TQ1_0", block(256, 54), true;
    TQ2_0 => "TQ2_0", block(256, 66), true;
    MXFP4 => "MXFP4", block(32, 17), true;
    NVFP4 => "NVFP4", block(64, 36), true;
    Q1_0 => "Q1_0", block(128, 18), true;
}

impl Dtype {
    /// Parses a canonical name (as returned by [`Dtype::name`]); `None` when unknown.
    pub fn from_name(name: &str) -> Option<Dtype> {
        Dtype::ALL.iter().copied().find(|d| d.name() == name)
    }

    /// Bytes needed to store `n` elements, or `None` on overflow, on a count that does not
    /// fill whole blocks or bytes, or for [`Dtype::Unknown`].
    pub fn bytes_for(self, n: u64) -> Option<u64> {
        match self.storage() {
            Storage::Bits(b) => {
                let bits = n.checked_mul(u64::from(b))?;
                bits.is_multiple_of(8).then_some(bits / 8)
            }
            Storage::Block { elems, bytes } => {
                let elems = u64::from(elems);
                n.is_multiple_of(elems)
                    .then(|| (n / elems).checked_mul(u64::from(bytes)))?
            }
            Storage::Unknown => None,
        }
    }

    /// Elements per block: 1 for plain types, the block size for quantized ones.
    pub fn block_elems(self) -> u64 {
        match self.storage() {
            Storage::Block { elems, .. } => u64::from(elems),
            _ => 1,
        }
    }

    /// Whether this is a GGML-style block-quantized type.
    pub fn is_block_quantized(self) -> bool {
        matches!(self.storage(), Storage::Block { .. })
    }

    /// Whether this is a plain IEEE or brain float of 16 bits or more.
    pub fn is_float(self) -> bool {
        matches!(self, Dtype::F16 | Dtype::BF16 | Dtype::F32 | Dtype::F64)
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for &d in Dtype::ALL {
            assert_eq!(Dtype::from_name(d.name()), Some(d));
        }
        assert_eq!(Dtype::from_name("F8_E4M3B11FNUZ"), None);
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(Dtype::BF16.bytes_for(3), Some(6));
        assert_eq!(Dtype::F4.bytes_for(3), None);
        assert_eq!(Dtype::F4.bytes_for(4), Some(2));
        assert_eq!(Dtype::Q4_K.bytes_for(512), Some(288));
        assert_eq!(Dtype::Q4_K.bytes_for(100), None);
        assert_eq!(Dtype::F64.bytes_for(u64::MAX), None);
        assert_eq!(Dtype::Unknown.bytes_for(1), None);
    }
}
