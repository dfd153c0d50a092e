//! Request and response headers.
//!
//! ```text
//! request v1   [api_key:i16][api_version:i16][correlation_id:i32][client_id:nullable string]
//! request v2   v1 + [tagged fields]      (client_id stays a classic, non-compact string)
//! response v0  [correlation_id:i32]
//! response v1  v0 + [tagged fields]
//! ```
//! A request uses header v2 when its API version is flexible, else v1; a response uses v1 when
//! flexible, except ApiVersions responses, which always use v0 so that a client that does not yet
//! know our versions can read them.
use super::primitives::{DecodeError, Reader, StrBytes, Writer};
use super::{ApiKey, versions};
use bytes::{BufMut, BytesMut};

/// A decoded request header. `api_key` is raw: unknown keys are the caller's to reject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeader {
    pub api_key: i16,
    pub api_version: i16,
    pub correlation_id: i32,
    pub client_id: Option<StrBytes>,
}

impl RequestHeader {
    /// Decodes the header at the front of a request frame. For a known key at a flexible version
    /// the tagged-field section is read too; the reader is left at the body.
    ///
    /// For an unknown key or a version outside our range, the header is read as v1, which is
    /// enough to answer with UNSUPPORTED_VERSION (Kafka does the same for ApiVersions).
    ///
    /// # Errors
    /// Any decode error.
    pub fn decode(reader: &mut Reader) -> Result<Self, DecodeError> {
        let api_key = reader
            .i16()
            .map_err(|e| e.in_field("RequestHeader.api_key"))?;
        let api_version = reader
            .i16()
            .map_err(|e| e.in_field("RequestHeader.api_version"))?;
        let correlation_id = reader
            .i32()
            .map_err(|e| e.in_field("RequestHeader.correlation_id"))?;
        let client_id = reader
            .nullable_string(false)
            .map_err(|e| e.in_field("RequestHeader.client_id"))?;
        let header = Self {
            api_key,
            api_version,
            correlation_id,
            client_id,
        };
        if header.is_flexible() {
            reader.tagged_fields(|_, _| Ok(false))?;
        }
        Ok(header)
    }

    /// Whether this header is v2 (known key, supported flexible version).
    #[must_use]
    pub fn is_flexible(&self) -> bool {
        match ApiKey::from_i16(self.api_key) {
            Some(key) => {
                let range = versions::range(key);
                self.api_version <= range.max && versions::is_flexible(key, self.api_version)
            }
            None => false,
        }
    }

    /// Encodes as v2 when `flexible`, else v1.
    pub fn encode(&self, writer: &mut BytesMut, flexible: bool) {
        writer.put_i16(self.api_key);
        writer.put_i16(self.api_version);
        writer.put_i32(self.correlation_id);
        writer.put_nullable_string(self.client_id.as_deref(), false);
        if flexible {
            writer.put_empty_tagged_fields();
        }
    }
}

/// Whether the response to `key` at `version` uses response header v1.
#[must_use]
pub fn response_header_is_flexible(key: ApiKey, version: i16) -> bool {
    key != ApiKey::ApiVersions && versions::is_flexible(key, version)
}

/// Writes a response header.
pub fn encode_response_header(writer: &mut BytesMut, correlation_id: i32, flexible: bool) {
    writer.put_i32(correlation_id);
    if flexible {
        writer.put_empty_tagged_fields();
    }
}

/// Reads a response header (clients: the admin CLI and ringbench).
///
/// # Errors
/// Any decode error.
pub fn decode_response_header(reader: &mut Reader, flexible: bool) -> Result<i32, DecodeError> {
    let correlation_id = reader
        .i32()
        .map_err(|e| e.in_field("ResponseHeader.correlation_id"))?;
    if flexible {
        reader.tagged_fields(|_, _| Ok(false))?;
    }
    Ok(correlation_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_header_v2_round_trip_and_layout() {
        let header = RequestHeader {
            api_key: ApiKey::Metadata.as_i16(),
            api_version: 12,
            correlation_id: 7,
            client_id: Some(StrBytes::from("ab")),
        };
        let mut buffer = BytesMut::new();
        header.encode(&mut buffer, true);
        assert_eq!(&buffer[..], &[0, 3, 0, 12, 0, 0, 0, 7, 0, 2, b'a', b'b', 0]);
        let mut reader = Reader::new(buffer.freeze());
        assert_eq!(RequestHeader::decode(&mut reader).unwrap(), header);
        assert!(reader.is_empty());
    }

    #[test]
    fn request_header_truncation_errors() {
        let header = RequestHeader {
            api_key: 18,
            api_version: 3,
            correlation_id: 1,
            client_id: Some(StrBytes::from("client")),
        };
        let mut buffer = BytesMut::new();
        header.encode(&mut buffer, true);
        let bytes = buffer.freeze();
        for cut in 0..bytes.len() {
            let mut reader = Reader::new(bytes.slice(..cut));
            assert!(RequestHeader::decode(&mut reader).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn unknown_key_reads_as_v1() {
        let mut buffer = BytesMut::new();
        buffer.extend_from_slice(&[0x7f, 0x00, 0, 9, 0, 0, 0, 1, 0xff, 0xff]);
        let mut reader = Reader::new(buffer.freeze());
        let header = RequestHeader::decode(&mut reader).unwrap();
        assert_eq!(header.client_id, None);
        assert!(reader.is_empty());
    }

    #[test]
    fn api_versions_response_header_is_v0() {
        assert!(!response_header_is_flexible(ApiKey::ApiVersions, 3));
        assert!(response_header_is_flexible(ApiKey::Metadata, 9));
        assert!(!response_header_is_flexible(ApiKey::Metadata, 8));
    }
}
