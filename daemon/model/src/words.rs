//! The closed vocabularies of the model: a draft's type and status, a
//! referee's recommendation, a chair's decision, the kinds of a diff's hunks and of events. Each is an enum, parsed once
//! where a word comes in (the API, a document a partner wrote) with the
//! allowed words in the error, and written back as the same word.

use std::fmt;
use std::str::FromStr;

use crate::ModelError;

/// An enum over a closed set of words: `as_str`, `WORDS`, [`FromStr`] with an
/// error that names the allowed words, [`fmt::Display`], and serde as the word.
macro_rules! vocabulary {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($what:literal) {
            $($(#[$vmeta:meta])* $variant:ident = $word:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash,
            serde::Serialize, serde::Deserialize,
        )]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $word)] $variant,)+
        }

        impl $name {
            /// Every value, in order.
            pub const ALL: &[Self] = &[$(Self::$variant),+];

            /// Every word, in order.
            pub const WORDS: &[&str] = &[$($word),+];

            /// The word, as stored and shown.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $word,)+
                }
            }
        }

        impl FromStr for $name {
            type Err = ModelError;

            fn from_str(s: &str) -> Result<Self, ModelError> {
                match s {
                    $($word => Ok(Self::$variant),)+
                    _ => Err(unknown($what, s, Self::WORDS)),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// The error for a word not in `allowed`.
pub(crate) fn unknown(what: &str, value: &str, allowed: &[&str]) -> ModelError {
    ModelError::invalid(format!(
        "unknown {what} `{value}`: use one of {}",
        allowed.join(", ")
    ))
}

vocabulary! {
    /// The kinds of paper the partnership produces.
    pub enum DraftType ("draft type") {
        /// A working paper (the default).
        WorkingPaper = "working-paper",
        /// A paper commissioned by a working group.
        CommissionedPaper = "commissioned-paper",
        /// A short brief for policy makers.
        PolicyBrief = "policy-brief",
        /// A synthesis of several works.
        Synthesis = "synthesis",
    }
}

vocabulary! {
    /// The statuses a draft goes through (see [`crate::review`] for the steps
    /// between them).
    pub enum Status ("status") {
        /// Being written; not yet submitted, or back from a withdrawn review.
        Draft = "draft",
        /// Submitted for a round of review.
        InReview = "in-review",
        /// The chair asked for a revision.
        Revision = "revision",
        /// The chair accepted it.
        Accepted = "accepted",
        /// Published: a version is frozen.
        Published = "published",
        /// The chair rejected it.
        Rejected = "rejected",
        /// Its authors withdrew it.
        Withdrawn = "withdrawn",
    }
}

vocabulary! {
    /// A referee's recommendation.
    pub enum Recommendation ("recommendation") {
        /// Accept as it is.
        Accept = "accept",
        /// Accept after minor changes.
        Minor = "minor",
        /// Revise substantially.
        Major = "major",
        /// Reject.
        Reject = "reject",
    }
}

vocabulary! {
    /// A chair's decision on a round of review.
    pub enum Verdict ("decision") {
        /// Accept the draft.
        Accept = "accept",
        /// Ask the authors for a revision.
        Revise = "revise",
        /// Reject the draft.
        Reject = "reject",
    }
}

impl Verdict {
    /// The status a draft reaches by this decision.
    pub fn status(self) -> Status {
        match self {
            Verdict::Accept => Status::Accepted,
            Verdict::Revise => Status::Revision,
            Verdict::Reject => Status::Rejected,
        }
    }
}

vocabulary! {
    /// What a hunk of a word diff is ([`crate::draft::word_diff`]).
    pub enum HunkTag ("hunk tag") {
        /// Words both texts hold.
        Equal = "equal",
        /// Words only the newer text holds.
        Insert = "insert",
        /// Words only the older text holds.
        Delete = "delete",
    }
}

vocabulary! {
    /// A member's role in a space.
    pub enum Role ("role") {
        /// May change membership and everything else.
        Admin = "admin",
        /// Drafts, datasets, comments.
        Editor = "editor",
        /// Comments and review documents.
        Reviewer = "reviewer",
        /// Reads only.
        Reader = "reader",
    }
}

vocabulary! {
    /// The kinds of event where the partnership's work is discussed.
    pub enum EventKind ("event kind") {
        /// A working meeting of a few institutions.
        Workshop = "workshop",
        /// A conference.
        Conference = "conference",
        /// A consultation of policy makers or practitioners.
        Consultation = "consultation",
        /// A public debate or panel.
        Debate = "debate",
        /// A seminar or a webinar.
        Seminar = "seminar",
        /// A meeting of the partnership's bodies.
        Meeting = "meeting",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_parse_back_and_unknown_ones_name_the_allowed() {
        for w in Status::WORDS {
            assert_eq!(w.parse::<Status>().unwrap().as_str(), *w);
        }
        let err = "lost".parse::<Status>().unwrap_err().to_string();
        assert!(
            err.contains("unknown status `lost`: use one of draft, in-review"),
            "{err}"
        );
        assert_eq!(
            "revise".parse::<Verdict>().unwrap().status(),
            Status::Revision
        );
        assert!("minor".parse::<Verdict>().is_err());
        let err = "owner".parse::<Role>().unwrap_err().to_string();
        assert!(
            err.contains("unknown role `owner`: use one of admin, editor, reviewer, reader"),
            "{err}"
        );
        assert_eq!(HunkTag::Insert.to_string(), "insert");
    }
}
