//! Role permissions, and the roles every new service starts with (twilio-behavior.md 16.2: Chat's
//! four roles, in Conversations' naming).

/// Permissions a `service` role may hold.
pub const SERVICE_PERMISSIONS: &[&str] = &[
    "addParticipant",
    "createConversation",
    "deleteAnyMessage",
    "deleteConversation",
    "editAnyMessage",
    "editAnyMessageAttributes",
    "editAnyUserInfo",
    "editConversationAttributes",
    "editConversationName",
    "editOwnMessage",
    "editOwnMessageAttributes",
    "editOwnUserInfo",
    "joinConversation",
    "removeParticipant",
];

/// Permissions a `conversation` role may hold.
pub const CONVERSATION_PERMISSIONS: &[&str] = &[
    "addNonChatParticipant",
    "addParticipant",
    "deleteAnyMessage",
    "deleteConversation",
    "deleteOwnMessage",
    "editAnyMessage",
    "editAnyMessageAttributes",
    "editAnyParticipantAttributes",
    "editAnyUserInfo",
    "editConversationAttributes",
    "editConversationName",
    "editNotificationLevel",
    "editOwnMessage",
    "editOwnMessageAttributes",
    "editOwnParticipantAttributes",
    "editOwnUserInfo",
    "leaveConversation",
    "removeParticipant",
    "sendMediaMessage",
    "sendMessage",
];

/// The permissions a role of this type may hold (`service` or `conversation`).
pub fn allowed_for(role_type: &str) -> &'static [&'static str] {
    if role_type == "service" {
        SERVICE_PERMISSIONS
    } else {
        CONVERSATION_PERMISSIONS
    }
}

/// Which service-configuration default a seeded role fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultFor {
    Nothing,
    ChatServiceRole,
    ConversationRole,
    ConversationCreatorRole,
}

pub struct SeedRole {
    pub friendly_name: &'static str,
    pub role_type: &'static str,
    pub permissions: &'static [&'static str],
    pub default_for: DefaultFor,
}

/// The roles a new service is created with.
pub const DEFAULT_ROLES: &[SeedRole] = &[
    SeedRole {
        friendly_name: "service admin",
        role_type: "service",
        permissions: SERVICE_PERMISSIONS,
        default_for: DefaultFor::Nothing,
    },
    SeedRole {
        friendly_name: "service user",
        role_type: "service",
        permissions: &["createConversation", "joinConversation", "editOwnUserInfo"],
        default_for: DefaultFor::ChatServiceRole,
    },
    SeedRole {
        friendly_name: "channel admin",
        role_type: "conversation",
        permissions: CONVERSATION_PERMISSIONS,
        default_for: DefaultFor::ConversationCreatorRole,
    },
    SeedRole {
        friendly_name: "channel user",
        role_type: "conversation",
        permissions: &[
            "sendMessage",
            "sendMediaMessage",
            "leaveConversation",
            "editOwnMessage",
            "editOwnMessageAttributes",
            "deleteOwnMessage",
            "editOwnUserInfo",
            "editOwnParticipantAttributes",
            "editNotificationLevel",
        ],
        default_for: DefaultFor::ConversationRole,
    },
];
