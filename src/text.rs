//! Strings borrowed from the JSON they were read from: large inputs (an import page's stored
//! records, Fastly's list of every user) are read without a copy of each string.

use std::borrow::{Borrow, Cow};
use std::ops::Deref;

use serde::de::{Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A string borrowed from the input unless it had to be unescaped (serde's own `Cow` always
/// copies).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Text<'a>(pub Cow<'a, str>);

impl Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

// Maps keyed by `Text` are looked up by `&str`: `Text` orders and compares as its string.
impl Borrow<str> for Text<'_> {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Str;
        impl<'de> Visitor<'de> for Str {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(Str)
    }
}

impl Serialize for Text<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_strings_are_borrowed_and_escaped_ones_unescaped() {
        let input = r#"["plain","a \"quoted\" word"]"#;
        let texts: Vec<Text<'_>> = serde_json::from_str(input).unwrap();
        assert!(matches!(texts[0].0, Cow::Borrowed("plain")));
        assert_eq!(&*texts[1], "a \"quoted\" word");
        assert_eq!(serde_json::to_string(&texts).unwrap(), input);
    }
}
