//! Histograms as text: HdrHistogram V2 + DEFLATE, base64 — the format the Java and Python
//! HdrHistogram tools read — so saved runs can be re-read, percentiles recomputed exactly and
//! runs from several hosts added together.

use base64::Engine;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;

/// Encodes a histogram (V2 DEFLATE, base64 standard alphabet).
pub fn encode(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new().serialize(h, &mut bytes).expect("serializing to a Vec cannot fail");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes what `encode` wrote; the error says what was wrong.
pub fn decode(text: &str) -> Result<Histogram<u64>, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| format!("histogram: not base64: {e}"))?;
    Deserializer::new().deserialize(&mut bytes.as_slice()).map_err(|e| format!("histogram: {e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::hist::new_histogram;

    #[test]
    fn round_trips_exactly() {
        let mut h = new_histogram();
        for v in [1u64, 7, 250, 999, 50_000, 50_000, 3_600_000_000] {
            h.record(v).unwrap();
        }
        let back = decode(&encode(&h)).unwrap();
        assert_eq!(back.len(), h.len());
        for q in [0.5, 0.9, 0.99, 1.0] {
            assert_eq!(back.value_at_quantile(q), h.value_at_quantile(q));
        }
        assert!(decode("not base64!").is_err());
        assert!(decode("AAAA").is_err());
    }
}
