//! `kafka_struct!`: the one way a message or nested struct is declared.
//!
//! Each field names its Rust type (see [`crate::protocol::primitives::Field`] for the mapping to
//! Kafka's schema types), the versions it is present in, and optionally its default (the value a
//! decoder produces for versions the field is absent from, as Kafka's schemas define). Tagged
//! fields (flexible versions only) go in a `tagged { }` block with their tag number; they are
//! written only when they differ from their default, as Kafka does.
//!
//! ```ignore
//! kafka_struct! {
//!     /// A topic in a Produce request.
//!     pub struct TopicProduceData {
//!         name: StrBytes => 0..=12,
//!         topic_id: Uuid => 13..,
//!         partition_data: Vec<PartitionProduceData> => 0..,
//!     }
//!     tagged {
//!         cluster_id: Option<StrBytes> => tag 0, 12.. ; default None,
//!     }
//! }
//! ```
//!
//! Version ranges are ordinary Rust range expressions over `i16` (`0..`, `3..=12`), tested with
//! `RangeBounds::contains`. Fields absent from a version are neither read nor written and keep
//! their default on decode, so `decode(encode(x)) == x` holds for any `x` whose absent fields hold
//! their defaults.

/// Declares a Kafka struct and implements `Field`, `Default`, `Debug`, `Clone`, `PartialEq` and
/// `testing::Generate` (random values for the property tests).
#[macro_export]
macro_rules! kafka_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                $field:ident : $fty:ty => $ver:expr $(; default $def:expr)?
            ),* $(,)?
        }
        $(
            tagged {
                $(
                    $(#[$tmeta:meta])*
                    $tfield:ident : $tty:ty => tag $tag:literal, $tver:expr $(; default $tdef:expr)?
                ),* $(,)?
            }
        )?
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $fty, )*
            $($( $(#[$tmeta])* pub $tfield: $tty, )*)?
        }

        $(
            // Tags must be declared in increasing order: they are written in declaration order
            // and Kafka (and our decoder) require strictly increasing tags.
            #[allow(clippy::indexing_slicing)] // const context; the loop bounds the index
            const _: () = {
                let tags: &[u32] = &[$($tag),*];
                let mut index = 1;
                while index < tags.len() {
                    assert!(tags[index - 1] < tags[index], "tagged fields out of order");
                    index += 1;
                }
            };
        )?

        impl $name {
            /// This struct's top-level `throttle_time_ms` when `version` has it (the quota
            /// throttle every response with the field answers, `handlers::throttle`); `None`
            /// for structs without one.
            #[doc(hidden)]
            #[allow(dead_code, unused_variables, clippy::range_plus_one)]
            pub fn throttle_time_ms_slot(&mut self, version: i16) -> Option<&mut i32> {
                $( $crate::kafka_struct!(@throttle self, version, $field, $ver); )*
                None
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self {
                    $( $field: $crate::kafka_struct!(@default $($def)?), )*
                    $($( $tfield: $crate::kafka_struct!(@default $($tdef)?), )*)?
                }
            }
        }

        impl $crate::protocol::primitives::Field for $name {
            #[allow(unused_mut, unused_variables, clippy::range_plus_one)]
            fn decode(
                reader: &mut $crate::protocol::primitives::Reader,
                version: $crate::protocol::primitives::Version,
            ) -> ::std::result::Result<Self, $crate::protocol::primitives::DecodeError> {
                let mut out = Self::default();
                $(
                    if ($ver).contains(&version.version) {
                        out.$field = $crate::protocol::primitives::Field::decode(reader, version)
                            .map_err(|error| {
                                error.in_field(concat!(stringify!($name), ".", stringify!($field)))
                            })?;
                    }
                )*
                if version.flexible {
                    reader.tagged_fields(|tag, body| {
                        match tag {
                            $($(
                                $tag if ($tver).contains(&version.version) => {
                                    out.$tfield =
                                        $crate::protocol::primitives::Field::decode(body, version)
                                            .map_err(|error| error.in_field(concat!(
                                                stringify!($name), ".", stringify!($tfield)
                                            )))?;
                                    Ok(true)
                                }
                            )*)?
                            _ => Ok(false),
                        }
                    })?;
                }
                Ok(out)
            }

            #[allow(unused_mut, unused_variables, clippy::range_plus_one)]
            fn encode(
                &self,
                writer: &mut ::bytes::BytesMut,
                version: $crate::protocol::primitives::Version,
            ) {
                $(
                    if ($ver).contains(&version.version) {
                        $crate::protocol::primitives::Field::encode(&self.$field, writer, version);
                    }
                )*
                if version.flexible {
                    // A tagged field is written only when it differs from its default, as
                    // Kafka does; defaults are built per field (no whole-struct default here).
                    let mut tagged_count: u32 = 0;
                    $($(
                        let $tfield = ($tver).contains(&version.version) && {
                            let default: $tty = $crate::kafka_struct!(@default $($tdef)?);
                            self.$tfield != default
                        };
                        if $tfield {
                            tagged_count += 1;
                        }
                    )*)?
                    $crate::protocol::primitives::Writer::put_unsigned_varint(writer, tagged_count);
                    $($(
                        if $tfield {
                            let mut body = ::bytes::BytesMut::new();
                            $crate::protocol::primitives::Field::encode(
                                &self.$tfield, &mut body, version,
                            );
                            $crate::protocol::primitives::Writer::put_unsigned_varint(writer, $tag);
                            $crate::protocol::primitives::Writer::put_unsigned_varint(
                                writer,
                                $crate::protocol::primitives::length_u32(body.len()),
                            );
                            ::bytes::BufMut::put_slice(writer, &body);
                        }
                    )*)?
                }
            }
        }

        // Random values for the property tests (see `protocol/testing.rs` for why this is not
        // behind cfg(test)): present fields random, absent ones at their defaults.
        impl $crate::protocol::testing::Generate for $name {
            #[allow(unused_mut, unused_variables, clippy::range_plus_one)]
            fn generate(
                rng: &mut $crate::protocol::testing::TestRng,
                version: $crate::protocol::primitives::Version,
            ) -> Self {
                let mut out = Self::default();
                $(
                    if ($ver).contains(&version.version) {
                        out.$field = $crate::protocol::testing::Generate::generate(rng, version);
                    }
                )*
                if version.flexible {
                    $($(
                        if ($tver).contains(&version.version) {
                            out.$tfield =
                                $crate::protocol::testing::Generate::generate(rng, version);
                        }
                    )*)?
                }
                out
            }
        }
    };
    (@throttle $self:ident, $version:ident, throttle_time_ms, $ver:expr) => {
        if ($ver).contains(&$version) {
            return Some(&mut $self.throttle_time_ms);
        }
    };
    (@throttle $self:ident, $version:ident, $field:ident, $ver:expr) => {};
    (@default) => { ::std::default::Default::default() };
    (@default $def:expr) => { $def };
}

/// Makes a declared struct a top-level request or response of one API. Its version range and
/// flexible boundary come from the one table in [`crate::protocol::versions`].
#[macro_export]
macro_rules! kafka_message {
    ($name:ident, $key:expr) => {
        impl $crate::protocol::Message for $name {
            const API_KEY: $crate::protocol::ApiKey = $key;
            const VERSION_MIN: i16 = $crate::protocol::versions::range($key).min;
            const VERSION_MAX: i16 = $crate::protocol::versions::range($key).max;
            const FLEXIBLE_MIN: i16 = $crate::protocol::versions::range($key).flexible_min;

            fn throttle_time_ms_mut(&mut self, version: i16) -> Option<&mut i32> {
                self.throttle_time_ms_slot(version)
            }
        }
    };
}
