//! Answers that are valid by construction: a [`Grammar`] a [`Request`] may
//! carry, so that the model can only write text the grammar allows (JSON of
//! a schema whose fields are enums taken from the database, for scheduling).
//!
//! A grammar is GBNF text, llama.cpp's grammar notation, usually made from a
//! JSON schema with [`Grammar::from_json_schema`]. llama.cpp parses it when
//! the generation starts: one that does not parse fails that generation with
//! [`EngineError::Failed`], saying so. How a constrained answer is sampled
//! (the model picks freely, the grammar is consulted for the whole
//! vocabulary only when the pick does not fit) is in `llama.rs`.
//!
//! Without the `llama` feature there is no llama.cpp to convert a schema;
//! the schema is kept as it is, so callers build the same requests, and no
//! model ever reads it.
//!
//! [`Request`]: super::Request

use super::EngineError;

/// What an answer must conform to.
#[derive(Debug, Clone, PartialEq)]
pub struct Grammar {
    rules: Rules,
}

#[derive(Debug, Clone, PartialEq)]
enum Rules {
    /// GBNF text whose start rule is `root`.
    Gbnf(String),
    /// A JSON schema, kept by a build that cannot convert it.
    #[cfg(not(feature = "llama"))]
    Schema(serde_json::Value),
}

impl Grammar {
    /// The grammar of JSON text that `schema` (a JSON schema: `type`,
    /// `properties`, `required`, `enum`, `anyOf`, `pattern`, `format`,
    /// `maxLength`, ...) describes, through llama.cpp's own converter. A
    /// schema it cannot convert is an error saying why.
    ///
    /// The object's fields must come in the order of `properties`, which a
    /// `serde_json::Value` keeps sorted by name: a prompt that names the
    /// fields in that order spares the model refused tokens.
    #[cfg(feature = "llama")]
    pub fn from_json_schema(schema: &serde_json::Value) -> Result<Grammar, EngineError> {
        let gbnf = super::llama::json_schema_to_gbnf(&schema.to_string()).map_err(|why| {
            EngineError::Failed(format!("the JSON schema cannot become a grammar: {why}"))
        })?;
        Ok(Grammar::from_gbnf(gbnf))
    }

    /// Without llama.cpp the schema is kept unconverted: there is no model
    /// to constrain, and requests are built the same way.
    #[cfg(not(feature = "llama"))]
    pub fn from_json_schema(schema: &serde_json::Value) -> Result<Grammar, EngineError> {
        Ok(Grammar {
            rules: Rules::Schema(schema.clone()),
        })
    }

    /// A grammar written in GBNF, starting at the rule `root`. It is parsed
    /// when a generation starts; one that does not parse fails it.
    pub fn from_gbnf(text: impl Into<String>) -> Grammar {
        Grammar {
            rules: Rules::Gbnf(text.into()),
        }
    }

    /// The GBNF text, or `None` for a schema a build without llama.cpp
    /// kept unconverted.
    pub fn gbnf(&self) -> Option<&str> {
        match &self.rules {
            Rules::Gbnf(text) => Some(text),
            #[cfg(not(feature = "llama"))]
            Rules::Schema(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::Grammar;

    #[test]
    fn gbnf_is_kept_as_written() {
        let grammar = Grammar::from_gbnf("root ::= \"yes\" | \"no\"");
        assert_eq!(grammar.gbnf(), Some("root ::= \"yes\" | \"no\""));
    }

    #[cfg(feature = "llama")]
    #[test]
    fn a_json_schema_becomes_gbnf_with_its_enums() {
        let schema = json!({
            "type": "object",
            "properties": {
                "action": {"enum": ["book", "cancel"]},
                "staff": {"anyOf": [{"enum": ["Dr. Lee"]}, {"type": "null"}]},
            },
            "required": ["action", "staff"],
            "additionalProperties": false,
        });
        let grammar = Grammar::from_json_schema(&schema).unwrap();
        let gbnf = grammar.gbnf().unwrap();
        assert!(gbnf.contains("root ::="), "{gbnf}");
        for value in ["book", "cancel", "Dr. Lee", "null"] {
            assert!(gbnf.contains(value), "{value} in {gbnf}");
        }
        // llama.cpp's converter refuses what it does not understand.
        let refused = Grammar::from_json_schema(&json!({"$ref": "#/nowhere"}));
        assert!(refused.is_err(), "{refused:?}");
    }

    #[cfg(not(feature = "llama"))]
    #[test]
    fn without_llama_the_schema_is_kept() {
        let grammar = Grammar::from_json_schema(&json!({"enum": ["a"]})).unwrap();
        assert_eq!(grammar.gbnf(), None);
    }
}
