//! The one table mapping ONNX `TensorProto.DataType` numbers to [`Dtype`].

use taoke_dtype::Dtype;

/// `(ONNX number, ONNX name, taoke dtype)`, for every data type of `onnx.proto` (IR version 11).
///
/// Types taoke has no [`Dtype`] for (complex128, 4-bit and 2-bit integers) map to
/// [`Dtype::Unknown`]; the ONNX number stays in [`crate::Initializer::data_type`].
pub const DATA_TYPES: &[(i32, &str, Dtype)] = &[
    (0, "UNDEFINED", Dtype::Unknown),
    (1, "FLOAT", Dtype::F32),
    (2, "UINT8", Dtype::U8),
    (3, "INT8", Dtype::I8),
    (4, "UINT16", Dtype::U16),
    (5, "INT16", Dtype::I16),
    (6, "INT32", Dtype::I32),
    (7, "INT64", Dtype::I64),
    (8, "STRING", Dtype::Unknown),
    (9, "BOOL", Dtype::Bool),
    (10, "FLOAT16", Dtype::F16),
    (11, "DOUBLE", Dtype::F64),
    (12, "UINT32", Dtype::U32),
    (13, "UINT64", Dtype::U64),
    (14, "COMPLEX64", Dtype::C64),
    (15, "COMPLEX128", Dtype::Unknown),
    (16, "BFLOAT16", Dtype::BF16),
    (17, "FLOAT8E4M3FN", Dtype::F8_E4M3),
    (18, "FLOAT8E4M3FNUZ", Dtype::F8_E4M3FNUZ),
    (19, "FLOAT8E5M2", Dtype::F8_E5M2),
    (20, "FLOAT8E5M2FNUZ", Dtype::F8_E5M2FNUZ),
    (21, "UINT4", Dtype::Unknown),
    (22, "INT4", Dtype::Unknown),
    (23, "FLOAT4E2M1", Dtype::F4),
    (24, "FLOAT8E8M0", Dtype::F8_E8M0),
    (25, "UINT2", Dtype::Unknown),
    (26, "INT2", Dtype::Unknown),
];

/// The [`Dtype`] of an ONNX data type number ([`Dtype::Unknown`] when unknown or unmapped).
pub fn dtype_of(data_type: i32) -> Dtype {
    DATA_TYPES
        .iter()
        .find(|e| e.0 == data_type)
        .map_or(Dtype::Unknown, |e| e.2)
}

/// The ONNX name of a data type number (`None` when unknown).
pub fn data_type_name(data_type: i32) -> Option<&'static str> {
    DATA_TYPES.iter().find(|e| e.0 == data_type).map(|e| e.1)
}

/// Whether values of this ONNX type are stored in `int32_data` when not in `raw_data`
/// (integers of at most 32 bits, bool, 16-bit floats as bit patterns, 8/4-bit floats).
pub(crate) fn uses_int32_data(data_type: i32) -> bool {
    matches!(data_type, 2..=6 | 9 | 10 | 16..=26)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        assert_eq!(dtype_of(1), Dtype::F32);
        assert_eq!(dtype_of(3), Dtype::I8);
        assert_eq!(dtype_of(16), Dtype::BF16);
        assert_eq!(dtype_of(17), Dtype::F8_E4M3);
        assert_eq!(dtype_of(23), Dtype::F4);
        assert_eq!(dtype_of(22), Dtype::Unknown);
        assert_eq!(dtype_of(999), Dtype::Unknown);
        assert_eq!(data_type_name(10), Some("FLOAT16"));
        // numbers are unique and sorted
        assert!(DATA_TYPES.windows(2).all(|w| w[0].0 + 1 == w[1].0));
    }
}
