//! Protocol-buffer encoding of the few message fields TensorBoard's event files need: varints,
//! 64-bit doubles, 32-bit floats and length-delimited fields (strings, bytes, nested messages).
//! Field numbers are named where the messages are built (tensorboard.rs).

/// A message being encoded.
#[derive(Debug, Default, Clone)]
pub struct Message(Vec<u8>);

const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const LENGTH_DELIMITED: u64 = 2;
const FIXED32: u64 = 5;

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

impl Message {
    /// An empty message.
    pub fn new() -> Message {
        Message::default()
    }

    fn key(&mut self, field: u32, wire_type: u64) {
        varint(&mut self.0, (u64::from(field) << 3) | wire_type);
    }

    /// An `int64`, `int32` or enum field (non-negative values).
    pub fn uint(mut self, field: u32, value: u64) -> Message {
        self.key(field, VARINT);
        varint(&mut self.0, value);
        self
    }

    /// A `double` field.
    pub fn double(mut self, field: u32, value: f64) -> Message {
        self.key(field, FIXED64);
        self.0.extend_from_slice(&value.to_le_bytes());
        self
    }

    /// A `float` field.
    pub fn float(mut self, field: u32, value: f32) -> Message {
        self.key(field, FIXED32);
        self.0.extend_from_slice(&value.to_le_bytes());
        self
    }

    /// A `bytes` field, or an already-encoded message.
    pub fn bytes(mut self, field: u32, value: &[u8]) -> Message {
        self.key(field, LENGTH_DELIMITED);
        varint(&mut self.0, value.len() as u64);
        self.0.extend_from_slice(value);
        self
    }

    /// A `string` field.
    pub fn string(self, field: u32, value: &str) -> Message {
        self.bytes(field, value.as_bytes())
    }

    /// A nested message.
    pub fn message(self, field: u32, value: &Message) -> Message {
        self.bytes(field, &value.0)
    }

    /// The encoded bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_as_the_protobuf_documentation_says() {
        // developers.google.com/protocol-buffers/docs/encoding: field 1 = 150 is 08 96 01;
        // field 2 = "testing" is 12 07 74 65 73 74 69 6e 67; field 3 = {field 1 = 150} is 1a 03 08 96 01.
        assert_eq!(Message::new().uint(1, 150).into_bytes(), [0x08, 0x96, 0x01]);
        assert_eq!(
            Message::new().string(2, "testing").into_bytes(),
            b"\x12\x07testing"
        );
        let inner = Message::new().uint(1, 150);
        assert_eq!(
            Message::new().message(3, &inner).into_bytes(),
            [0x1a, 0x03, 0x08, 0x96, 0x01]
        );
        assert_eq!(
            Message::new().double(1, 1.0).into_bytes(),
            [0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f]
        );
        assert_eq!(
            Message::new().float(2, 1.0).into_bytes(),
            [0x15, 0, 0, 0x80, 0x3f]
        );
        assert_eq!(
            Message::new().uint(2, u64::MAX).into_bytes().len(),
            11,
            "a 64-bit varint takes ten bytes after its key"
        );
    }
}
