//! Twilio SIDs: two upper-case letters naming the kind of resource, then 32 lower-case hex
//! digits. All SIDs are minted here.
//!
//! The 32 digits are the minting time in milliseconds (48 bits) then 80 random bits, as in a
//! UUIDv7: still opaque and unguessable, but a new SID sorts after the older ones, so inserting
//! it into a `UNIQUE` SID index touches the index's last page instead of a random one. With a
//! million messages, random SIDs made every message of a batch dirty (and write to the WAL) a
//! page of its own.

use rand::RngCore;

/// The two-letter prefixes this server mints or checks (twilio-behavior.md, section 2).
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

/// A fresh SID with the given prefix: time-ordered, with 80 random bits.
pub fn new_sid(prefix: Prefix) -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    rand::rng().fill_bytes(&mut bytes[6..]);
    // Written in place: through `hex::encode` and `format!` this was 2,000 instructions, and
    // a posted message mints one on the writer thread.
    let mut sid = [0u8; 34];
    sid[..2].copy_from_slice(prefix.as_str().as_bytes());
    hex::encode_to_slice(bytes, &mut sid[2..]).expect("16 bytes are 32 hex digits");
    String::from_utf8(sid.to_vec()).expect("a prefix and hex digits are ASCII")
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
    fn later_sids_sort_after_earlier_ones() {
        let earlier = new_sid(Prefix::Message);
        std::thread::sleep(std::time::Duration::from_millis(2));
        let later = new_sid(Prefix::Message);
        assert!(later > earlier, "{earlier} then {later}");
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
