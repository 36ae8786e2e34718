//! Format metadata as generic values (GGUF key-values, safetensors `__metadata__`, ONNX
//! `metadata_props`), so callers never need to know the format.

use serde::Serialize;

/// A metadata value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum MetaValue {
    /// Boolean.
    Bool(bool),
    /// Signed integer.
    Int(i64),
    /// Unsigned integer too large for `Int`.
    UInt(u64),
    /// Float.
    Float(f64),
    /// String.
    Str(String),
    /// Array.
    Array(Vec<MetaValue>),
}

impl MetaValue {
    /// As an unsigned integer, from any integer variant (or an integral float).
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            MetaValue::Int(i) => u64::try_from(i).ok(),
            MetaValue::UInt(u) => Some(u),
            MetaValue::Float(f) if f >= 0.0 && f.fract() == 0.0 && f < 1.8e19 => Some(f as u64),
            _ => None,
        }
    }

    /// As a float, from any numeric variant.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            MetaValue::Int(i) => Some(i as f64),
            MetaValue::UInt(u) => Some(u as f64),
            MetaValue::Float(f) => Some(f),
            _ => None,
        }
    }

    /// As a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            MetaValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// As an array.
    pub fn as_array(&self) -> Option<&[MetaValue]> {
        match self {
            MetaValue::Array(a) => Some(a),
            _ => None,
        }
    }

    /// A short rendering for reports: arrays show their length and first items.
    pub fn short(&self) -> String {
        match self {
            MetaValue::Bool(b) => b.to_string(),
            MetaValue::Int(i) => i.to_string(),
            MetaValue::UInt(u) => u.to_string(),
            MetaValue::Float(f) => f.to_string(),
            MetaValue::Str(s) if s.chars().count() > 80 => {
                format!(
                    "{}… ({} chars)",
                    s.chars().take(60).collect::<String>(),
                    s.chars().count()
                )
            }
            MetaValue::Str(s) => s.clone(),
            MetaValue::Array(a) => {
                let head: Vec<String> = a.iter().take(3).map(MetaValue::short).collect();
                format!(
                    "[{}{}] ({} items)",
                    head.join(", "),
                    if a.len() > 3 { ", …" } else { "" },
                    a.len()
                )
            }
        }
    }
}
