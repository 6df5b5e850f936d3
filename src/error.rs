//! One error type for the whole API, written on the wire as Twilio's legacy error body:
//! `{"code": N, "message": "...", "more_info": "https://www.twilio.com/docs/errors/N", "status": S}`.
//!
//! Every failure a client can see is an [`Error`]: handler errors, extractor rejections, unknown
//! routes, wrong methods and panics. It is written on the wire at the HTTP edge
//! (`api/error.rs`) as Twilio's legacy error body; this module knows nothing of HTTP types.
//! Internal causes are logged, never sent.

use std::fmt::{self, Display};

/// Declares the catalogue: one line per error, `Name = code, status, "template";`, each with a
/// `///` line that says when it is answered. A template holds at most one `{}`, filled by the
/// error's detail (see [`Error::message`]).
macro_rules! catalogue {
    ($(
        $(#[doc = $doc:literal])+
        $name:ident = $code:literal, $status:literal, $template:literal;
    )+) => {
        /// A Twilio error confab answers. See the table in `error.rs`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Code {
            $( $(#[doc = $doc])+ $name, )+
        }

        impl Code {
            /// Every error of the table, in its order.
            pub const ALL: &'static [Code] = &[$(Code::$name),+];

            /// The Twilio error code (`code` on the wire, and the `more_info` page).
            pub const fn number(self) -> u32 {
                match self { $(Code::$name => $code,)+ }
            }

            /// The HTTP status the error travels with.
            pub const fn status(self) -> u16 {
                match self { $(Code::$name => $status,)+ }
            }

            /// The message, with at most one `{}` for the detail.
            pub const fn template(self) -> &'static str {
                match self { $(Code::$name => $template,)+ }
            }
        }
    };
}

catalogue! {
    // Messaging (1xxxx).
    /// Media of an inbound message that could not be fetched from its URL (the detail says why).
    MediaRetrievalFailed        = 11200, 400, "HTTP retrieval failure: {}";

    // Platform errors (2xxxx).
    /// A path that names nothing this account can see (the detail: its path, without the host).
    NotFound                    = 20404, 404, "The requested resource {} was not found";
    /// A required parameter is not in the form body.
    MissingParameter            = 20001, 400, "Missing required parameter {} in the post body";
    /// A required parameter of a query string (a lookup) is not there.
    MissingQueryParameter       = 20001, 400, "Missing required query parameter {}";
    /// A parameter whose value cannot be used, when no Conversations code names it.
    InvalidParameter            = 20001, 400, "Invalid parameter {}";
    /// A form body that cannot be read or parsed at all.
    InvalidBody                 = 20001, 400, "Invalid request body";
    /// A query string that cannot be parsed.
    InvalidQuery                = 20001, 400, "Invalid query string";
    /// A form or query parameter whose percent-decoded name or value is not UTF-8 (the detail:
    /// its name, as far as it can be shown).
    NotUtf8                     = 20001, 400, "Invalid parameter {}: not UTF-8 text";
    /// Missing or wrong credentials.
    Unauthenticated             = 20003, 401, "Authenticate";
    /// A known path asked with a method it does not take.
    MethodNotAllowed            = 20004, 405, "Method not allowed";
    /// An operator action asked by an account, or in a mode that does not allow it.
    Forbidden                   = 20403, 403, "Forbidden";
    /// A second address configuration for the same address.
    AddressConfigurationExists  = 20409, 409, "An address configuration already exists for this address";
    /// Deleting a role that users or participants still have.
    RoleInUse                   = 20409, 409, "The role is still assigned";
    /// A unique key of the store refused a row; the domain names the conflict where it can
    /// (a taken unique name, an existing user...).
    Conflict                    = 20409, 409, "Conflict";
    /// More request bodies in flight than the server's budget of bytes (`--body-bytes-in-flight`).
    TooManyRequests             = 20429, 429, "Too Many Requests";
    /// Something broke inside; the cause is logged, not sent.
    Internal                    = 20500, 500, "Internal Server Error";
    /// A `PageToken` this server did not issue.
    InvalidPageToken            = 21481, 400, "Invalid PageToken";

    // Services, webhooks and roles (500xx, 501xx).
    /// A `FriendlyName` over its length limit.
    FriendlyNameTooLong         = 50003, 400, "Friendly name too long";
    /// A `UniqueName` over its length limit.
    UniqueNameTooLong           = 50004, 400, "Unique name too long";
    /// A service SID in a body parameter that names no service of the account.
    ServiceNotFound             = 50050, 400, "Service Instance not found";
    /// An account or service webhook setting that is malformed (URL or filter).
    InvalidWebhook              = 50054, 400, "Invalid webhook format";
    /// A webhook method other than GET or POST.
    InvalidWebhookMethod        = 50055, 400, "Invalid webhook method";
    /// A pre-action webhook refused the action (a non-2xx answer).
    WebhookRejected             = 50056, 400, "Webhook disabled processing of command";
    /// An address configuration's `AutoCreation.StudioRetryCount` that is not a count.
    InvalidWebhookRetryCount    = 50065, 400, "Invalid webhook retry count";
    /// A role SID that names no role of the service (or of the wanted type for users).
    RoleNotFound                = 50100, 400, "Role not found";
    /// A permission that the role's type does not have.
    PermissionNotFound          = 50104, 400, "Permission not found";
    /// A role type that is not one of the known ones, or a role of the other type.
    InvalidRoleType             = 50105, 400, "Invalid role type";
    /// A participant's `RoleSid` that names no conversation-level role of the service.
    ConversationRoleNotFound    = 50109, 400, "Conversation role not found";

    // Users and bindings (502xx).
    /// A second user with the same identity in a service (409, as observed on Twilio).
    UserExists                  = 50201, 409, "User already exists";
    /// An identity shaped like a user SID.
    IdentityLooksLikeSid        = 50206, 400, "Identity should not match user SID pattern";
    /// An identity over its length limit.
    IdentityTooLong             = 50207, 400, "Identity too long";
    /// A binding type that is not one of the known ones.
    InvalidBindingType          = 50209, 400, "Invalid binding type";
    /// A user conversation's `NotificationLevel` that is not one of the known ones.
    InvalidNotificationLevel    = 50210, 400, "Invalid notification level";
    /// An identity given to a participant reached at a device address.
    IdentityNotAcceptable       = 50211, 400, "Identity parameter not acceptable for this Participant";
    /// An identity already in the most non-closed conversations a user may be in.
    UserConversationLimit       = 50214, 400, "User conversation limit exceeded";

    // Conversations (503xx).
    /// `Attributes` over their size limit.
    AttributesTooLong           = 50303, 400, "Attributes too long";
    /// `Attributes` that are not JSON.
    AttributesNotJson           = 50304, 400, "Attributes not valid JSON";
    /// A `DateCreated` that is not a date.
    InvalidDateCreated          = 50308, 400, "Invalid Date Created parameter";
    /// A `DateUpdated` that is not a date.
    InvalidDateUpdated          = 50309, 400, "Invalid Date Updated parameter";
    /// A message `Author` over its length limit.
    AuthorTooLong               = 50310, 400, "Author parameter is too long";
    /// A malformed Messaging Service SID.
    InvalidMessagingServiceSid  = 50341, 400, "Invalid messaging service SID";
    /// A conversation `UniqueName` another conversation of the service has.
    UniqueNameTaken             = 50353, 409, "Conversation with provided unique name already exists";
    /// A sixth scoped webhook on one conversation.
    TooManyConversationWebhooks = 50361, 400, "Too many conversation webhooks";
    /// More trigger keywords than a scoped webhook may have.
    TooManyWebhookTriggers      = 50362, 400, "Too many conversation webhook triggers";
    /// A scoped webhook `Target` that is unknown, or changed.
    InvalidWebhookTarget        = 50364, 400, "Invalid conversation webhook type";
    /// A scoped webhook (or address auto-creation) filter that names no post-event.
    InvalidWebhookFilter        = 50365, 400, "Invalid conversation webhook filter";
    /// A trigger keyword that is empty or too long.
    InvalidWebhookTrigger       = 50366, 400, "Invalid conversation webhook trigger";
    /// A Studio Flow SID that is malformed, or missing where a studio target needs it.
    InvalidWebhookFlowSid       = 50367, 400, "Invalid conversation webhook flow SID";
    /// A scoped webhook created without a `Target`.
    WebhookTargetMissing        = 50368, 400, "Conversation webhook type not provided";
    /// A webhook target that calls a URL, created without one.
    WebhookUrlMissing           = 50369, 400, "Conversation webhook URL not provided";
    /// A `webhook` target created without filters.
    WebhookFiltersMissing       = 50370, 400, "Conversation webhook filter not provided";
    /// A `trigger` target created without keywords.
    WebhookTriggersMissing      = 50371, 400, "Conversation webhook trigger not provided";
    /// A webhook URL over its length limit.
    WebhookUrlTooLong           = 50372, 400, "Conversation webhook URL is too long";
    /// A non-chat participant for a conversation with no Messaging Service.
    NoMessagingService          = 50373, 400, "No Messaging Service assigned to Conversation";
    /// `State` sent empty.
    EmptyState                  = 50374, 400, "'State' field can't be empty";
    /// An inactive timer under one minute.
    InactiveTimerTooShort       = 50375, 400, "TimeToInactive should be greater or equal to 1 minute";
    /// A closed timer under ten minutes.
    ClosedTimerTooShort         = 50376, 400, "TimeToClosed should be greater or equal to 10 minutes";
    /// A change to a closed conversation, its messages or its participants.
    ConversationClosed          = 50377, 400, "Can't update conversation as it's in final closed state";
    /// A `State` that is not one of the known ones, or not allowed here.
    InvalidState                = 50378, 400, "'State' parameter value is invalid";
    /// An inactive timer that is not an ISO-8601 duration.
    InvalidInactiveTimer        = 50379, 400, "TimeToInactive format is invalid";
    /// A closed timer that is not an ISO-8601 duration.
    InvalidClosedTimer          = 50380, 400, "TimeToClosed format is invalid";
    /// Timers on a create that gives no `State`.
    TimerWithoutState           = 50382, 400, "Timer can't be set without state";
    /// A conversation created closed.
    InitialStateClosed          = 50384, 400, "Initial state can't be 'closed'";
    /// A conversation `UniqueName` shaped like a conversation SID.
    UniqueNameLooksLikeSid      = 50390, 400, "Unique name should not match conversation sid pattern";

    // Participants (504xx).
    /// A `LastReadTimestamp` that is not a date.
    InvalidLastReadTimestamp    = 50405, 400, "Invalid last consumption timestamp format";
    /// A messaging binding address that is not an address of its channel.
    InvalidAddress              = 50407, 400, "Invalid messaging binding address";
    /// A proxy address that is not an address of its channel.
    InvalidProxyAddress         = 50408, 400, "Invalid participant proxy address";
    /// A proxy address equal to the participant's address.
    AddressEqualsProxy          = 50409, 400, "Participant address equals proxy address";
    /// A messaging binding address sent empty.
    EmptyAddress                = 50411, 400, "Participant address is empty";
    /// A proxy address sent empty.
    EmptyProxyAddress           = 50412, 400, "Participant proxy address is empty";
    /// A proxy address on another channel than the address.
    AddressTypeMismatch         = 50414, 400, "Participant address type does not match proxy address type";
    /// An address/proxy pair already in another non-closed conversation (the detail names it).
    BindingTaken                = 50416, 409, "A binding for this participant and proxy address already exists in Conversation {}";
    /// A conversation already at its participant limit.
    TooManyParticipants         = 50417, 400, "Participants limit exceeded";
    /// A conversation already at its non-chat participant limit.
    TooManyNonChatParticipants  = 50418, 400, "Non-Chat participants limit exceeded";
    /// Messaging binding parameters the participant's channel does not take.
    UnsupportedBindingParameter = 50420, 400, "Participant Messaging Binding type does not support all of the provided Messaging Binding parameters";
    /// A read horizon (message index or timestamp) that cannot be read.
    InvalidLastReadIndex        = 50421, 400, "Invalid last read message index format";
    /// More `Participant` entries than one request may add.
    TooManyParticipantsAtOnce   = 50426, 400, "Too many Participant entries";
    /// An identity that is already a participant of the conversation.
    ParticipantExists           = 50433, 409, "Participant already exists";
    /// A group MMS participant without its projected address.
    ProjectedAddressMissing     = 50434, 400, "Participant projected address not provided";
    /// A group MMS member already in the conversation.
    GroupParticipantExists      = 50437, 409, "Group Participant already exists";
    /// Removing a proxy address a participant does not have.
    NoProxyAddress              = 50440, 400, "Failed to remove the proxy address of a participant";
    /// Adding a proxy address to a participant without an address.
    ProxyWithoutAddress         = 50441, 400, "Failed to add a proxy address to a participant";
    /// Removing a projected address a participant does not have.
    NoProjectedAddress          = 50442, 400, "Failed to remove the projected address of a participant";
    /// Adding a projected address to a participant reached at an address.
    ProjectedNotAllowed         = 50443, 400, "Failed to add a projected address to a participant";
    /// Changing the identity of a participant that has one.
    IdentityExists              = 50444, 400, "Failed to add an identity to a participant";
    /// A participant-conversations lookup by both identity and address.
    AmbiguousLookup             = 50451, 400, "One user identifier parameter for lookup at a time is allowed. Please, use either Identity or Address.";

    // Messages and media (505xx).
    /// A message with no body, media or content.
    BodyMissing                 = 50503, 400, "Message body not provided";
    /// A message body over its length limit.
    BodyTooLong                 = 50504, 400, "Message body parameter is too long";
    /// A media SID that names no media of the service.
    MediaNotFound               = 50507, 400, "Media not found";
    /// A media SID another message already holds.
    MediaTaken                  = 50508, 400, "Media already sent with another message";
    /// A body change on a media message.
    MediaBodyLocked             = 50509, 400, "Media message body cannot be updated";
    /// A malformed media SID.
    InvalidMediaSid             = 50510, 400, "Invalid message media SID";
    /// A media upload without a `type/subtype` content type.
    InvalidMediaType            = 50511, 400, "Invalid message media content type";
    /// A media upload over the size limit.
    MediaTooLarge               = 50512, 400, "Message media size is too large";
    /// A malformed content SID.
    InvalidContentSid           = 50526, 400, "Invalid content SID";
    /// `ContentVariables` that are not a JSON object.
    InvalidContentVariables     = 50527, 400, "Invalid content variables format";
    /// `ContentVariables` without a `ContentSid`.
    ContentSidMissing           = 50528, 400, "Content SID is missing";
    /// `ContentVariables` with too many variables or characters.
    ContentVariablesTooLong     = 50529, 400, "Content variables are too long";
    /// A content variable name over its length limit.
    ContentVariableKeyTooLong   = 50540, 400, "Content variable key is too long";
    /// A content variable value over its length limit.
    ContentVariableValueTooLong = 50541, 400, "Content variable value is too long";

    // Push (52xxx).
    /// A push credential that is not one this binding can use.
    InvalidCredentialSid        = 52002, 400, "Invalid Credential Sid";
    /// A push binding without a credential.
    CredentialSidMissing        = 52004, 400, "Credential SID not specified";
}

/// A Twilio error: which one, and what this occurrence adds to its template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub code: Code,
    pub detail: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: Code) -> Self {
        Self { code, detail: None }
    }

    /// The error with a detail: it fills the template's `{}`, or, for a template without one,
    /// follows it after a colon.
    pub fn with(code: Code, detail: impl Display) -> Self {
        Self {
            code,
            detail: Some(detail.to_string()),
        }
    }

    /// The message sent. A template's `{}` without a detail is dropped with the space before it.
    pub fn message(&self) -> String {
        let template = self.code.template();
        match (template.split_once("{}"), &self.detail) {
            (Some((before, after)), Some(detail)) => format!("{before}{detail}{after}"),
            (Some((before, after)), None) => {
                format!("{}{after}", before.strip_suffix(' ').unwrap_or(before))
            }
            (None, Some(detail)) => format!("{template}: {detail}"),
            (None, None) => template.to_string(),
        }
    }

    /// Something broke inside. The cause goes to the log, not to the client.
    pub fn internal(cause: impl Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new(Code::Internal)
    }

    /// 20404 for what the request names: the HTTP edge fills in the request's path.
    pub fn not_found() -> Self {
        Self::new(Code::NotFound)
    }

    /// This error, unless it is the store's generic [`Code::Conflict`]: then the one `name`
    /// makes, which says what the conflict is about.
    pub fn on_conflict(self, name: impl FnOnce() -> Error) -> Self {
        if self.code == Code::Conflict {
            name()
        } else {
            self
        }
    }

    /// A required parameter is missing from the form body.
    pub fn missing(param: &str) -> Self {
        Self::with(Code::MissingParameter, param)
    }

    /// A parameter whose value cannot be used, when no Conversations code names it.
    pub fn invalid(param: &str, detail: impl Display) -> Self {
        Self::with(Code::InvalidParameter, format!("{param}: {detail}"))
    }
}

impl From<Code> for Error {
    fn from(code: Code) -> Self {
        Self::new(code)
    }
}

impl Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.code.status(),
            self.code.number(),
            self.message()
        )
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_numbers_and_statuses_agree() {
        for a in Code::ALL {
            // One number travels with one status, whichever variant answers it.
            for b in Code::ALL {
                if a.number() == b.number() {
                    assert_eq!(a.status(), b.status(), "{a:?} and {b:?}");
                }
            }
            let (number, status) = (a.number(), a.status());
            match number {
                // The platform codes that carry their status in their number.
                20400..=20599 => assert_eq!(u32::from(status), number - 20000, "{a:?}"),
                20001 | 21481 => assert_eq!(status, 400, "{a:?}"),
                // What confab answers when an inbound message's media cannot be fetched.
                11200 => assert_eq!(status, 400),
                20003 => assert_eq!(status, 401),
                20004 => assert_eq!(status, 405),
                // Conversations answers 400, and 409 for what already exists.
                50000..=52999 => {
                    let conflict = matches!(number, 50201 | 50353 | 50416 | 50433 | 50437);
                    assert_eq!(status, if conflict { 409 } else { 400 }, "{a:?}");
                }
                _ => panic!("{a:?}: {number} is not a Twilio code confab knows"),
            }
        }
    }

    #[test]
    fn no_two_errors_are_the_same() {
        for (i, a) in Code::ALL.iter().enumerate() {
            for b in &Code::ALL[i + 1..] {
                assert!(
                    (a.number(), a.template()) != (b.number(), b.template()),
                    "{a:?} and {b:?} are one error"
                );
            }
        }
    }

    #[test]
    fn templates_hold_at_most_one_placeholder() {
        for code in Code::ALL {
            assert!(code.template().matches("{}").count() <= 1, "{code:?}");
            assert!(!code.template().is_empty(), "{code:?}");
        }
    }

    #[test]
    fn messages_fill_templates() {
        assert_eq!(
            Error::with(Code::NotFound, "/v1/Nothing").message(),
            "The requested resource /v1/Nothing was not found"
        );
        assert_eq!(
            Error::new(Code::NotFound).message(),
            "The requested resource was not found"
        );
        assert_eq!(
            Error::missing("FriendlyName").message(),
            "Missing required parameter FriendlyName in the post body"
        );
        assert_eq!(
            Error::invalid("PageSize", "must be a whole number").message(),
            "Invalid parameter PageSize: must be a whole number"
        );
        assert_eq!(
            Error::with(Code::UserExists, "alice").message(),
            "User already exists: alice"
        );
        assert_eq!(
            Error::from(Code::UserExists).message(),
            "User already exists"
        );
        assert_eq!(
            Error::with(Code::BindingTaken, "CH1").message(),
            "A binding for this participant and proxy address already exists in Conversation CH1"
        );
        let internal = Error::internal("disk on fire");
        assert_eq!(internal.code, Code::Internal);
        assert_eq!(internal.message(), "Internal Server Error");
        assert_eq!(
            internal.to_string(),
            "500 20500: Internal Server Error",
            "the cause is never in the error"
        );
    }
}
