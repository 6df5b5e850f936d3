//! Twilio SIDs: two upper-case letters naming the kind of resource, then 32 lower-case hex
//! digits (128 random bits). All SIDs are minted here.

use rand::RngCore;

/// The two-letter prefixes this server mints or checks (BEHAVIOR.md, section 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefix {
    Account,
    ApiKey,
    Service,
    Conversation,
    Message,
    Participant,
    User,
    Role,
    Webhook,
    Receipt,
    Credential,
    Binding,
    AddressConfiguration,
    MessagingService,
    Media,
    Content,
    Flow,
    ChannelMessage,
}

impl Prefix {
    pub const fn as_str(self) -> &'static str {
        match self {
            Prefix::Account => "AC",
            Prefix::ApiKey => "SK",
            Prefix::Service => "IS",
            Prefix::Conversation => "CH",
            Prefix::Message => "IM",
            Prefix::Participant => "MB",
            Prefix::User => "US",
            Prefix::Role => "RL",
            Prefix::Webhook => "WH",
            Prefix::Receipt => "DY",
            Prefix::Credential => "CR",
            Prefix::Binding => "BS",
            Prefix::AddressConfiguration => "IG",
            Prefix::MessagingService => "MG",
            Prefix::Media => "ME",
            Prefix::Content => "HX",
            Prefix::Flow => "FW",
            Prefix::ChannelMessage => "SM",
        }
    }
}

/// A fresh random SID with the given prefix.
pub fn new_sid(prefix: Prefix) -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    format!("{}{}", prefix.as_str(), hex::encode(bytes))
}

/// A random 32-hex-digit secret (auth tokens, API key secrets).
pub fn new_secret() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Whether `s` has the shape `^XX[0-9a-fA-F]{32}$` for this prefix (the spec's patterns).
pub fn is_sid(prefix: Prefix, s: &str) -> bool {
    s.len() == 34 && s.starts_with(prefix.as_str()) && s[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_sids_have_the_twilio_shape() {
        let sid = new_sid(Prefix::Conversation);
        assert!(is_sid(Prefix::Conversation, &sid), "{sid}");
        assert!(
            sid[2..]
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert_ne!(sid, new_sid(Prefix::Conversation));
    }

    #[test]
    fn sid_shape_is_checked_per_prefix() {
        assert!(!is_sid(
            Prefix::Message,
            "CH00000000000000000000000000000000"
        ));
        assert!(!is_sid(
            Prefix::Conversation,
            "CH0000000000000000000000000000000"
        ));
        assert!(!is_sid(
            Prefix::Conversation,
            "CH0000000000000000000000000000000g"
        ));
        assert!(is_sid(
            Prefix::Conversation,
            "CHAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        ));
    }
}
