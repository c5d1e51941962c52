//! The closed sets the database stores, as types mirroring the schema's
//! `CHECK` constraints: a status is a [`MessageStatus`], never a string that
//! might be misspelt. Each converts to and from its SQL text (the same words
//! the JSON API shows), so the rest of Hearth never sees the strings.

/// Defines a stored enum: its variants with their SQL (and JSON) words, and
/// the conversions every stored enum needs.
macro_rules! stored_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$variant_meta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
            utoipa::ToSchema,
        )]
        pub enum $name {
            $( $(#[$variant_meta])* #[serde(rename = $text)] $variant, )+
        }

        impl $name {
            /// Every value, in the schema's order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The word the database and the API use.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                match text {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!(
                        "{other:?} is not one of: {}",
                        [$($text),+].join(", ")
                    )),
                }
            }
        }

        impl rusqlite::types::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(self.as_str().into())
            }
        }

        impl rusqlite::types::FromSql for $name {
            fn column_result(
                value: rusqlite::types::ValueRef<'_>,
            ) -> rusqlite::types::FromSqlResult<Self> {
                value
                    .as_str()?
                    .parse()
                    .map_err(|e: String| rusqlite::types::FromSqlError::Other(e.into()))
            }
        }
    };
}

stored_enum! {
    /// Who wrote a message.
    pub enum MessageRole {
        User = "user",
        Assistant = "assistant",
    }
}

stored_enum! {
    /// How a message ended (user messages are always `Done`).
    pub enum MessageStatus {
        Done = "done",
        /// Someone pressed Stop.
        Stopped = "stopped",
        /// The answer reached its length limit.
        Length = "length",
        /// No answer: the model failed or was unavailable.
        Failed = "failed",
        /// Being written now.
        Writing = "writing",
        /// The server stopped while it was being written; the text so far is kept.
        Interrupted = "interrupted",
    }
}

stored_enum! {
    /// A document's place in the ingestion queue.
    pub enum DocumentStatus {
        Queued = "queued",
        Processing = "processing",
        Indexed = "indexed",
        Failed = "failed",
    }
}

stored_enum! {
    /// How a document arrived.
    pub enum DocumentSource {
        /// The Documents page.
        Upload = "upload",
        /// The `inbox/` folder.
        Inbox = "inbox",
        /// `hearth docs import`.
        Import = "import",
        /// `POST /api/v1/documents`.
        Api = "api",
    }
}

stored_enum! {
    /// How an audited action ended.
    pub enum AuditOutcome {
        Ok = "ok",
        Failed = "failed",
        /// Refused for lack of permission.
        Denied = "denied",
    }
}

stored_enum! {
    /// Whether a conversation's answers draw on the office's documents.
    pub enum DocumentsMode {
        /// When the question finds good passages; otherwise the model answers alone.
        Auto = "auto",
        /// Only from documents: when nothing matches, the answer says so.
        Only = "only",
        /// Never.
        Off = "off",
    }
}

stored_enum! {
    /// What a person said about an answer.
    pub enum FlagRating {
        /// Right and useful.
        Up = "up",
        /// Wrong or unhelpful.
        Down = "down",
    }
}

stored_enum! {
    /// Where a flag is in review.
    pub enum FlagStatus {
        Open = "open",
        /// Its correction became a house fact.
        Accepted = "accepted",
        /// Reviewed; nothing to change.
        Dismissed = "dismissed",
    }
}

stored_enum! {
    /// Why Hearth reached outside the box.
    pub enum EgressPurpose {
        /// A question for the cloud model.
        CloudChat = "cloud_chat",
        /// The owner's "Test the connection" on Admin → Cloud.
        CloudTest = "cloud_test",
        ModelDownload = "model_download",
        UpdateCheck = "update_check",
        UpdateDownload = "update_download",
    }
}

stored_enum! {
    /// How a request ended (`Sending` is the row written before it left).
    pub enum EgressOutcome {
        Sending = "sending",
        Ok = "ok",
        Failed = "failed",
        /// Hearth stopped or the person went away while it was under way.
        Interrupted = "interrupted",
        /// Never sent: the endpoint or the policy did not allow it.
        Refused = "refused",
    }
}

/// Where an answer came from, stored as `local:<model file>`,
/// `documents+local:<model file>`, `cloud:<model>`,
/// `documents+cloud:<model>` or `documents:none` (and empty for an answer
/// that failed before any model answered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerSource {
    /// No model answered (the answer failed).
    None,
    /// The local model, alone.
    Local { model: String },
    /// The local model, reading passages from the office's documents.
    DocumentsAndLocal { model: String },
    /// Nothing matched in the documents; Hearth said so without a model.
    NothingFoundInDocuments,
    /// The cloud model the owner allowed (its name at the provider).
    Cloud { model: String },
    /// The cloud model, reading passages from documents that may leave.
    DocumentsAndCloud { model: String },
}

impl AnswerSource {
    /// The stored text.
    pub fn to_text(&self) -> String {
        match self {
            AnswerSource::None => String::new(),
            AnswerSource::Local { model } => format!("local:{model}"),
            AnswerSource::DocumentsAndLocal { model } => format!("documents+local:{model}"),
            AnswerSource::NothingFoundInDocuments => "documents:none".to_string(),
            AnswerSource::Cloud { model } => format!("cloud:{model}"),
            AnswerSource::DocumentsAndCloud { model } => format!("documents+cloud:{model}"),
        }
    }

    /// Whether the answer was written outside the box.
    pub fn is_cloud(&self) -> bool {
        matches!(
            self,
            AnswerSource::Cloud { .. } | AnswerSource::DocumentsAndCloud { .. }
        )
    }

    /// Reads the stored text; anything unknown counts as no source.
    pub fn from_text(text: &str) -> AnswerSource {
        match text.split_once(':') {
            Some(("local", model)) => AnswerSource::Local {
                model: model.to_string(),
            },
            Some(("documents+local", model)) => AnswerSource::DocumentsAndLocal {
                model: model.to_string(),
            },
            Some(("documents", "none")) => AnswerSource::NothingFoundInDocuments,
            Some(("cloud", model)) => AnswerSource::Cloud {
                model: model.to_string(),
            },
            Some(("documents+cloud", model)) => AnswerSource::DocumentsAndCloud {
                model: model.to_string(),
            },
            _ => AnswerSource::None,
        }
    }

    /// For people: "Local model · <file>", "Documents + local model · <file>",
    /// "Documents · nothing found", or nothing.
    pub fn label(&self) -> String {
        match self {
            AnswerSource::None => String::new(),
            AnswerSource::Local { model } => format!("Local model · {model}"),
            AnswerSource::DocumentsAndLocal { model } => {
                format!("Documents + local model · {model}")
            }
            AnswerSource::NothingFoundInDocuments => "Documents · nothing found".to_string(),
            AnswerSource::Cloud { model } => format!("Answered by {model} in the cloud"),
            AnswerSource::DocumentsAndCloud { model } => {
                format!("Documents + answered by {model} in the cloud")
            }
        }
    }
}

impl serde::Serialize for AnswerSource {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_text())
    }
}

impl utoipa::PartialSchema for AnswerSource {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        String::schema()
    }
}

impl utoipa::ToSchema for AnswerSource {}

impl rusqlite::types::ToSql for AnswerSource {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.to_text().into())
    }
}

impl rusqlite::types::FromSql for AnswerSource {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        Ok(AnswerSource::from_text(value.as_str()?))
    }
}

stored_enum! {
    /// Where an appointment stands. Only `booked` ones can still change;
    /// every status but `cancelled` holds the time.
    pub enum AppointmentStatus {
        Booked = "booked",
        Cancelled = "cancelled",
        Done = "done",
        /// The customer did not come.
        NoShow = "no_show",
    }
}

stored_enum! {
    /// What a calendar subscription shows.
    pub enum FeedScope {
        /// Every appointment of the office.
        Office = "office",
        /// One staff member's.
        Staff = "staff",
        /// One resource's.
        Resource = "resource",
    }
}

stored_enum! {
    /// What the assistant proposes; nothing happens until a person confirms.
    pub enum ProposalAction {
        Book = "book",
        Move = "move",
        Cancel = "cancel",
    }
}

stored_enum! {
    pub enum ProposalStatus {
        Open = "open",
        Confirmed = "confirmed",
        Dismissed = "dismissed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_reads_back_as_its_value() {
        for status in MessageStatus::ALL {
            assert_eq!(status.as_str().parse::<MessageStatus>(), Ok(*status));
        }
        for status in DocumentStatus::ALL {
            assert_eq!(status.as_str().parse::<DocumentStatus>(), Ok(*status));
        }
        assert!("bogus".parse::<DocumentSource>().is_err());
        for source in [
            AnswerSource::None,
            AnswerSource::Local {
                model: "a.gguf".into(),
            },
            AnswerSource::DocumentsAndLocal {
                model: "b:c.gguf".into(),
            },
            AnswerSource::NothingFoundInDocuments,
        ] {
            assert_eq!(AnswerSource::from_text(&source.to_text()), source);
        }
    }
}
