// The OpenAPI 3.1 document, generated from the route table: every router entry (aliases
// included) is one operation, so the document cannot drift from what is served. The
// component schemas are hand-written below from reference/API.md.

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <initializer_list>
#include <string_view>

#include "api/api.hpp"
#include "auth/roles.hpp"
#include "common/json_text.hpp"
#include "common/strings.hpp"

#ifndef ARAGORA_VERSION
#define ARAGORA_VERSION "0.0.0"
#endif

namespace aragora::api {
namespace {

namespace json = boost::json;

// Component schemas (JSON Schema 2020-12, as OpenAPI 3.1 uses).
constexpr std::string_view kSchemas = R"json({
  "Error": {
    "type": "object",
    "description": "The flat error of every non-2xx JSON answer.",
    "required": ["error", "code", "correlation_id", "trace_id"],
    "properties": {
      "error": {"type": "string", "description": "Readable message"},
      "code": {"type": "string", "enum": ["bad_request", "validation_error", "auth_required",
        "forbidden", "not_found", "method_not_allowed", "conflict", "payload_too_large",
        "rate_limit_exceeded", "overloaded", "unavailable", "not_implemented",
        "internal_error", "timeout", "cancelled", "provider_error"]},
      "correlation_id": {"type": "string"},
      "trace_id": {"type": "string", "description": "Same as correlation_id"},
      "retry_after": {"type": "integer", "description": "Seconds (429 and 503)"},
      "errors": {"type": "array", "items": {"type": "object",
        "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}}
    }
  },
  "AgentSpec": {
    "oneOf": [
      {"type": "string", "description": "provider[:model-or-persona], e.g. demo:critic"},
      {"type": "object", "required": ["provider"], "properties": {
        "provider": {"type": "string"}, "model": {"type": "string"},
        "persona": {"type": "string"}, "name": {"type": "string"}}}
    ]
  },
  "CreateDebateRequest": {
    "type": "object",
    "description": "task or question is required; top-level fields win over protocol.",
    "properties": {
      "task": {"type": "string", "maxLength": 10000},
      "question": {"type": "string", "maxLength": 10000},
      "agents": {"oneOf": [
        {"type": "array", "minItems": 2, "items": {"$ref": "#/components/schemas/AgentSpec"}},
        {"type": "string", "description": "Comma-separated specs"}]},
      "rounds": {"type": "integer", "minimum": 1, "maximum": 12, "default": 3},
      "consensus": {"$ref": "#/components/schemas/ConsensusMethod"},
      "consensus_threshold": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
      "context": {"type": "string"},
      "metadata": {"type": "object"},
      "protocol": {"type": "object", "properties": {
        "rounds": {"type": "integer", "minimum": 1, "maximum": 12},
        "consensus": {"$ref": "#/components/schemas/ConsensusMethod"},
        "consensus_threshold": {"type": "number", "exclusiveMinimum": 0, "maximum": 1}}}
    }
  },
  "ConsensusMethod": {"type": "string",
    "enum": ["majority", "supermajority", "unanimous", "weighted", "judge"]},
  "DebateStatus": {"type": "string",
    "enum": ["pending", "running", "completed", "failed", "cancelled"]},
  "CreateDebateResponse": {
    "type": "object",
    "required": ["success", "debate_id", "id", "status", "task", "agents", "websocket_url"],
    "properties": {
      "success": {"type": "boolean"}, "debate_id": {"type": "string"}, "id": {"type": "string"},
      "status": {"$ref": "#/components/schemas/DebateStatus"}, "task": {"type": "string"},
      "agents": {"type": "array", "items": {"type": "string"}},
      "websocket_url": {"type": "string", "examples": ["/ws?debate_id=d_0123"]}
    }
  },
  "Debate": {
    "type": "object",
    "properties": {
      "debate_id": {"type": "string"}, "id": {"type": "string"}, "task": {"type": "string"},
      "status": {"$ref": "#/components/schemas/DebateStatus"},
      "agents": {"type": "array", "items": {"type": "string"}},
      "rounds": {"type": "integer"}, "rounds_used": {"type": "integer"},
      "consensus_method": {"$ref": "#/components/schemas/ConsensusMethod"},
      "consensus_reached": {"type": ["boolean", "null"]},
      "confidence": {"type": ["number", "null"]},
      "verdict": {"type": ["string", "null"],
        "enum": ["approved", "approved_with_conditions", "needs_review", "rejected", null]},
      "final_answer": {"type": ["string", "null"]},
      "dissenting_agents": {"type": "array", "items": {"type": "string"}},
      "created_at": {"type": ["string", "null"], "format": "date-time"},
      "started_at": {"type": ["string", "null"], "format": "date-time"},
      "completed_at": {"type": ["string", "null"], "format": "date-time"},
      "duration_seconds": {"type": ["number", "null"]},
      "receipt_id": {"type": ["string", "null"]},
      "usage": {"description": "Token usage per agent and in total; null until finished",
        "oneOf": [{"type": "null"}, {"type": "object", "properties": {
        "agents": {"type": "object"}, "total": {"type": "object", "properties": {
          "calls": {"type": "integer"}, "input_tokens": {"type": "integer"},
          "output_tokens": {"type": "integer"}}}}}]},
      "error": {"oneOf": [{"type": "null"}, {"type": "object", "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}}}]},
      "created_by": {"type": "string", "description":
        "The creator's user id; \"\" when anonymous, \"service\" for the service token"},
      "can_cancel": {"type": "boolean", "description":
        "Whether the caller's cancel would succeed now (role, ownership, not finished)"}
    }
  },
  "DebateSummary": {
    "type": "object",
    "properties": {
      "debate_id": {"type": "string"}, "id": {"type": "string"}, "task": {"type": "string"},
      "status": {"$ref": "#/components/schemas/DebateStatus"},
      "agents": {"type": "array", "items": {"type": "string"}},
      "consensus_reached": {"type": ["boolean", "null"]},
      "confidence": {"type": ["number", "null"]}, "verdict": {"type": ["string", "null"]},
      "created_at": {"type": ["string", "null"]}, "completed_at": {"type": ["string", "null"]}
    }
  },
  "DebateList": {
    "type": "object",
    "description": "debates and items hold the same summaries.",
    "properties": {
      "debates": {"type": "array", "items": {"$ref": "#/components/schemas/DebateSummary"}},
      "items": {"type": "array", "items": {"$ref": "#/components/schemas/DebateSummary"}},
      "total": {"type": "integer"}, "count": {"type": "integer"},
      "limit": {"type": "integer"}, "offset": {"type": "integer"},
      "has_more": {"type": "boolean"}
    }
  },
  "CancelResponse": {
    "type": "object",
    "properties": {"success": {"type": "boolean"}, "debate_id": {"type": "string"},
      "status": {"const": "cancelled"}, "message": {"type": "string"}}
  },
  "Message": {
    "type": "object",
    "properties": {
      "index": {"type": "integer"}, "agent": {"type": "string"},
      "role": {"type": "string", "enum": ["proposer", "critic", "reviser", "voter", "judge"]},
      "round": {"type": "integer"}, "content": {"type": "string"},
      "timestamp": {"type": "string", "format": "date-time"}
    }
  },
  "MessageList": {
    "type": "object",
    "properties": {
      "debate_id": {"type": "string"},
      "messages": {"type": "array", "items": {"$ref": "#/components/schemas/Message"}},
      "total": {"type": "integer"}, "offset": {"type": "integer"},
      "limit": {"type": "integer"}, "has_more": {"type": "boolean"}
    }
  },
  "Event": {
    "type": "object",
    "required": ["type", "data", "timestamp", "round", "agent", "seq", "debate_id", "loop_id"],
    "properties": {
      "type": {"type": "string"}, "data": {"type": "object"},
      "timestamp": {"type": "number", "description": "Epoch seconds"},
      "round": {"type": "integer"}, "agent": {"type": "string"},
      "seq": {"type": "integer", "minimum": 1}, "debate_id": {"type": "string"},
      "loop_id": {"type": "string"}
    }
  },
  "EventPage": {
    "type": "object",
    "properties": {
      "debate_id": {"type": "string"},
      "events": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}},
      "next_seq": {"type": "integer"}, "has_more": {"type": "boolean"}
    }
  },
  "DebateExport": {
    "description": "format=json: the debate plus its messages; other formats: the document, or ExportWrapper when Accept is application/json only.",
    "oneOf": [
      {"allOf": [{"$ref": "#/components/schemas/Debate"}, {"type": "object", "properties": {
        "messages": {"type": "array", "items": {"$ref": "#/components/schemas/Message"}}}}]},
      {"$ref": "#/components/schemas/ExportWrapper"}
    ]
  },
  "ExportWrapper": {
    "type": "object",
    "properties": {
      "debate_id": {"type": "string"}, "receipt_id": {"type": "string"},
      "format": {"type": "string"}, "content": {"type": "string"},
      "filename": {"type": "string"}, "size_bytes": {"type": "integer"},
      "generated_at": {"type": "string", "format": "date-time"}
    }
  },
  "Receipt": {
    "type": "object",
    "description": "A decision receipt (DEBATE.md); served receipts add gauntlet_id, checksum, is_signed, signature_metadata, agents_involved, participating_agents, dissenting_agents, rounds_completed, consensus_reached, risk_level, risk_score, input_summary, created_at.",
    "properties": {
      "receipt_id": {"type": "string"}, "debate_id": {"type": "string"},
      "question": {"type": "string"}, "input_hash": {"type": "string"},
      "verdict": {"type": "string"}, "confidence": {"type": "number"},
      "consensus": {"type": "object"},
      "agents": {"type": "array", "items": {"type": "string"}},
      "rounds_used": {"type": "integer"}, "final_answer": {"type": "string"},
      "provenance": {"type": "array"}, "timestamp": {"type": "string"},
      "previous_hash": {"type": ["string", "null"]}, "content_hash": {"type": "string"},
      "signatures": {"type": "array", "items": {"type": "object", "properties": {
        "algorithm": {"type": "string"}, "key_id": {"type": "string"},
        "value": {"type": "string"}, "signed_at": {"type": "string"},
        "public_key": {"type": "string"}}}}
    }
  },
  "ReceiptExport": {
    "oneOf": [{"$ref": "#/components/schemas/Receipt"},
              {"$ref": "#/components/schemas/ExportWrapper"}]
  },
  "ReceiptList": {
    "type": "object",
    "properties": {
      "receipts": {"type": "array", "items": {"$ref": "#/components/schemas/Receipt"}},
      "pagination": {"type": "object", "properties": {
        "limit": {"type": "integer"}, "offset": {"type": "integer"},
        "total": {"type": "integer"}, "has_more": {"type": "boolean"}}},
      "total": {"type": "integer"}
    }
  },
  "LegalHold": {
    "type": "object",
    "description": "While active, retention never deletes the receipt.",
    "properties": {
      "active": {"type": "boolean"}, "reason": {"type": ["string", "null"]},
      "matter_id": {"type": ["string", "null"]}, "placed_by": {"type": ["string", "null"]},
      "placed_at": {"type": ["string", "null"], "format": "date-time"}
    }
  },
  "LegalHoldRequest": {
    "type": "object",
    "required": ["reason"],
    "properties": {
      "reason": {"type": "string", "maxLength": 1000},
      "matter_id": {"type": "string", "maxLength": 128}
    }
  },
  "LegalHoldResponse": {
    "type": "object",
    "properties": {
      "success": {"type": "boolean"}, "receipt_id": {"type": "string"},
      "legal_hold": {"$ref": "#/components/schemas/LegalHold"}
    }
  },
  "LegalHoldRelease": {
    "type": "object",
    "properties": {
      "success": {"type": "boolean"}, "receipt_id": {"type": "string"},
      "released": {"type": "boolean", "description": "false: there was no hold"},
      "released_by": {"type": "string"},
      "legal_hold": {"$ref": "#/components/schemas/LegalHold"},
      "previous": {"$ref": "#/components/schemas/LegalHold"}
    }
  },
  "CleanupResult": {
    "type": "object",
    "properties": {
      "receipts_deleted": {"type": "integer", "description": "A dry run: how many would be"},
      "started_at": {"type": "string", "format": "date-time"},
      "completed_at": {"type": "string", "format": "date-time"},
      "duration_seconds": {"type": "number"}, "retention_days": {"type": "integer"},
      "success": {"type": "boolean"}, "error": {"type": ["string", "null"]},
      "dry_run": {"type": "boolean"},
      "complete": {"type": "boolean", "description": "false: the run deadline stopped it"},
      "cutoff": {"type": "string", "format": "date-time"},
      "held_kept": {"type": "integer", "description": "Expired but under a legal hold"},
      "receipt_ids": {"type": "array", "items": {"type": "string"}},
      "operator": {"type": "string"}
    }
  },
  "RetentionRunRequest": {
    "type": "object",
    "properties": {
      "dry_run": {"type": "boolean", "default": false},
      "retention_days": {"type": "integer", "minimum": 0, "maximum": 100000,
        "description": "Overrides ARAGORA_RECEIPT_RETENTION_DAYS for this run"}
    }
  },
  "RetentionStatus": {
    "type": "object",
    "properties": {
      "retention_policy": {"type": "object", "properties": {
        "retention_days": {"type": "integer"}, "retention_years": {"type": "number"}}},
      "age_distribution": {"type": "object", "additionalProperties": {"type": "integer"},
        "description": "0-30_days, 31-90_days, 91-365_days, 1-3_years, 3-7_years, over_7_years"},
      "expiring_receipts": {"type": "object", "additionalProperties": {"type": "integer"},
        "description": "next_30_days, next_90_days, next_365_days (not held)"},
      "already_expired": {"type": "integer", "description": "Deletable now (not held)"},
      "timestamps": {"type": "object", "properties": {
        "oldest_receipt": {"type": ["string", "null"]},
        "newest_receipt": {"type": ["string", "null"]}}},
      "total_receipts": {"type": "integer"},
      "generated_at": {"type": "string", "format": "date-time"},
      "cutoff": {"type": "string", "format": "date-time"},
      "legal_holds": {"type": "object", "properties": {
        "active": {"type": "integer"}, "expired_but_held": {"type": "integer"}}},
      "deleted_receipts": {"type": "integer", "description": "Tombstones in the deletion log"},
      "scheduler": {"type": "object", "properties": {
        "running": {"type": "boolean"}, "interval_hours": {"type": "integer"},
        "retention_days": {"type": "integer"},
        "next_run_at": {"type": ["string", "null"]},
        "stats": {"type": "object", "properties": {
          "total_runs": {"type": "integer"}, "total_receipts_deleted": {"type": "integer"},
          "last_run": {"type": ["string", "null"]}, "failures": {"type": "integer"},
          "success_rate": {"type": "number"},
          "last_result": {"oneOf": [{"$ref": "#/components/schemas/CleanupResult"},
                                    {"type": "null"}]}}}}}
    }
  },
  "ReceiptDeletion": {
    "type": "object",
    "description": "A deletion log row, also the chain's tombstone of the deleted receipt.",
    "properties": {
      "deletion_id": {"type": "string"}, "receipt_id": {"type": "string"},
      "receipt_checksum": {"type": "string"}, "gauntlet_id": {"type": "string"},
      "debate_id": {"type": "string"}, "verdict": {"type": ["string", "null"]},
      "deleted_at": {"type": "number", "description": "Epoch seconds"},
      "deleted_at_iso": {"type": "string", "format": "date-time"},
      "reason": {"type": "string", "enum": ["retention_expired", "user_request",
        "gdpr_erasure", "admin_action", "data_correction", "legal_hold_release"]},
      "operator": {"type": "string"}, "metadata": {"type": "object"},
      "chain_seq": {"type": "integer"}, "content_hash": {"type": "string"},
      "previous_hash": {"type": ["string", "null"]},
      "receipt_created_at": {"type": "string", "format": "date-time"}
    }
  },
  "ReceiptDeletionList": {
    "type": "object",
    "properties": {
      "deletions": {"type": "array", "items": {"$ref": "#/components/schemas/ReceiptDeletion"}},
      "pagination": {"type": "object", "properties": {
        "limit": {"type": "integer"}, "offset": {"type": "integer"},
        "total": {"type": "integer"}, "has_more": {"type": "boolean"}}},
      "total": {"type": "integer"}
    }
  },
  "VerifyRequest": {
    "oneOf": [{"$ref": "#/components/schemas/Receipt"},
              {"type": "object", "required": ["receipt"],
               "properties": {"receipt": {"$ref": "#/components/schemas/Receipt"},
                              "integrity_only": {"type": "boolean"}}}]
  },
  "PublishedReceiptKeys": {
    "description": "Ed25519 public keys of every receipt key id this installation has signed with (current, previous, retired), for verification without any secret. HMAC keys are never published.",
    "type": "object",
    "properties": {
      "keys": {"type": "array", "items": {"type": "object", "properties": {
        "key_id": {"type": "string"}, "algorithm": {"type": "string"},
        "state": {"type": "string", "enum": ["current", "previous", "retired"]},
        "public_key": {"type": "string", "description": "base64 of the 32 raw bytes"},
        "public_key_pem": {"type": "string"},
        "first_seen_at": {"type": ["string", "null"]},
        "last_seen_at": {"type": ["string", "null"]},
        "retired_at": {"type": ["string", "null"]}}}},
      "key_id": {"type": "string"}, "signed_bytes": {"type": "string"}
    }
  },
  "VerifyResult": {
    "type": "object",
    "properties": {
      "receipt_id": {"type": ["string", "null"]}, "valid": {"type": "boolean"},
      "integrity_valid": {"type": "boolean"},
      "signature_valid": {"type": ["boolean", "null"]},
      "hash": {"type": ["string", "null"]}, "stored_checksum": {"type": ["string", "null"]},
      "computed_checksum": {"type": ["string", "null"]},
      "algorithm": {"type": ["string", "null"]}, "key_id": {"type": ["string", "null"]},
      "verified_at": {"type": "string"}, "reason": {"type": ["string", "null"]},
      "signature": {"type": "object", "properties": {
        "signature_valid": {"type": ["boolean", "null"]},
        "algorithm": {"type": ["string", "null"]}, "key_id": {"type": ["string", "null"]},
        "signed_at": {"type": ["string", "null"]},
        "verification_timestamp": {"type": "string"}, "error": {"type": ["string", "null"]}}},
      "integrity": {"type": "object", "properties": {
        "integrity_valid": {"type": "boolean"},
        "stored_checksum": {"type": ["string", "null"]},
        "computed_checksum": {"type": ["string", "null"]},
        "verified_at": {"type": "string"}, "error": {"type": ["string", "null"]}}},
      "integrity_only": {"type": "boolean"}, "warning": {"type": "string"}
    }
  },
  "Liveness": {"type": "object", "properties": {"status": {"const": "ok"}}},
  "Readiness": {
    "type": "object",
    "properties": {"status": {"type": "string", "enum": ["ready", "not_ready"]},
      "checks": {"type": "object"}, "reason": {"type": "string"}}
  },
  "Health": {
    "type": "object",
    "properties": {
      "status": {"type": "string", "enum": ["healthy", "degraded", "unhealthy"]},
      "version": {"type": "string"}, "uptime_seconds": {"type": "number"},
      "timestamp": {"type": "string"},
      "checks": {"type": "object", "properties": {
        "database": {"type": "object"}, "redis": {"type": "object"},
        "websocket": {"type": "object"}, "circuit_breakers": {"type": "object"},
        "memory_mb": {"type": "number"}, "active_debates": {"type": "integer"}}}
    }
  },
  "DeepHealth": {"type": "object", "properties": {"overall": {"type": "string"}}},
  "Status": {
    "type": "object",
    "properties": {"data": {"type": "object", "properties": {
      "status": {"type": "string", "enum": ["operational", "degraded", "down"]},
      "message": {"type": "string"}, "uptime_seconds": {"type": "number"},
      "timestamp": {"type": "string"}, "components_summary": {"type": "object"}}}}
  },
  "Build": {
    "type": "object",
    "properties": {"sha": {"type": "string"}, "sha_short": {"type": "string"},
      "build_time": {"type": "string"}, "version": {"type": "string"}}
  },
  "CircuitBreakers": {
    "type": "object",
    "properties": {"circuit_breakers": {"type": "object"}, "breakers": {"type": "array"},
      "summary": {"type": "object"}, "timestamp": {"type": "string"}}
  },
  "AgentList": {
    "type": "object", "required": ["agents"],
    "description": "The agents a debate can name: the demo personas, then every provider (its default model). available: the provider's API key (openai-compatible: its base URL) is set, or OPENROUTER_API_KEY is (via_openrouter). Never a key's value.",
    "properties": {"agents": {"type": "array", "items": {"$ref": "#/components/schemas/AgentInfo"}}}
  },
  "AgentInfo": {
    "type": "object",
    "required": ["name", "spec", "provider", "kind", "model", "persona", "available", "reason",
                 "key_env", "key_configured", "base_url_env", "base_url_set", "via_openrouter",
                 "circuit_breaker", "circuit_state"],
    "properties": {
      "name": {"type": "string", "examples": ["demo:analyst", "anthropic"]},
      "spec": {"type": "string", "description": "What to send in a create request's agents",
        "examples": ["demo:critic", "anthropic:claude-sonnet-4-20250514"]},
      "provider": {"type": "string", "examples": ["demo", "anthropic", "openai", "openrouter",
        "mistral", "xai", "gemini", "openai-compatible"]},
      "kind": {"type": "string", "enum": ["demo", "provider"]},
      "model": {"type": ["string", "null"], "description": "The default model; null for demo"},
      "persona": {"type": ["string", "null"], "description": "Demo persona; null for providers"},
      "available": {"type": "boolean"},
      "reason": {"type": ["string", "null"], "examples": ["ANTHROPIC_API_KEY is not set"]},
      "key_env": {"type": ["string", "null"]}, "key_configured": {"type": "boolean"},
      "base_url_env": {"type": ["string", "null"]}, "base_url_set": {"type": "boolean"},
      "via_openrouter": {"type": "boolean"},
      "circuit_breaker": {"type": ["string", "null"],
        "examples": ["anthropic:claude-sonnet-4-20250514"]},
      "circuit_state": {"type": ["string", "null"], "enum": ["closed", "open", "half_open", null]}
    }
  },
  "ResetCircuit": {
    "type": "object",
    "properties": {"success": {"type": "boolean"}, "agent": {"type": "string"},
      "reset": {"type": "array", "items": {"type": "string"}}, "state": {"type": "string"}}
  },
  "AgentTestRequest": {
    "type": "object", "required": ["agent"],
    "properties": {"agent": {"type": "string", "minLength": 1},
      "prompt": {"type": "string", "maxLength": 10000}}
  },
  "AgentTest": {
    "type": "object",
    "properties": {"success": {"type": "boolean"}, "agent": {"type": "string"},
      "provider": {"type": "string"}, "model": {"type": "string"},
      "response": {"type": "string"}, "latency_ms": {"type": "number"},
      "tokens": {"type": "object"}, "error": {"type": ["string", "null"]}}
  },
  "LoginRequest": {
    "type": "object", "required": ["email", "password"],
    "properties": {"email": {"type": "string", "minLength": 1, "maxLength": 254},
      "password": {"type": "string", "minLength": 1, "maxLength": 1024}}
  },
  "RefreshRequest": {
    "type": "object", "required": ["refresh_token"],
    "properties": {"refresh_token": {"type": "string", "minLength": 1, "maxLength": 256}}
  },
  "Tokens": {
    "type": "object",
    "properties": {"access_token": {"type": "string"}, "refresh_token": {"type": "string"},
      "token_type": {"type": "string", "enum": ["Bearer"]}, "expires_in": {"type": "integer"},
      "expires_at": {"type": "string"}}
  },
  "User": {
    "type": "object",
    "properties": {"id": {"type": "string"}, "email": {"type": "string"},
      "name": {"type": "string"}, "role": {"$ref": "#/components/schemas/Role"},
      "org_id": {"type": "string"}, "created_at": {"type": "string"}}
  },
  "Role": {"type": "string", "enum": ["owner", "admin", "member", "viewer"]},
  "LoginResponse": {
    "description": "The token fields appear both under tokens and at the top level.",
    "allOf": [{"$ref": "#/components/schemas/Tokens"}, {"type": "object", "properties": {
      "user": {"$ref": "#/components/schemas/User"},
      "tokens": {"$ref": "#/components/schemas/Tokens"}}}]
  },
  "UserResponse": {
    "description": "The user's fields appear both under user and at the top level.",
    "allOf": [{"$ref": "#/components/schemas/User"}, {"type": "object", "properties": {
      "user": {"$ref": "#/components/schemas/User"}}}]
  },
  "ProfileUpdate": {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 200},
      "email": {"type": "string", "maxLength": 254},
      "password": {"type": "string", "minLength": 8, "maxLength": 1024},
      "current_password": {"type": "string", "maxLength": 1024}}
  },
  "UserCreate": {
    "type": "object", "required": ["email", "password"],
    "properties": {"email": {"type": "string", "maxLength": 254},
      "password": {"type": "string", "minLength": 8, "maxLength": 1024},
      "role": {"$ref": "#/components/schemas/Role"}, "name": {"type": "string", "maxLength": 200},
      "org_id": {"type": "string", "maxLength": 128}}
  },
  "RoleUpdate": {
    "type": "object", "required": ["role"],
    "properties": {"role": {"$ref": "#/components/schemas/Role"}}
  },
  "ApiKeyRequest": {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 100},
      "expires_in": {"type": "integer", "minimum": 1},
      "expires_in_days": {"type": "integer", "minimum": 1},
      "expires_at": {"type": "string"}}
  },
  "ApiKey": {
    "type": "object",
    "properties": {"id": {"type": "string"}, "prefix": {"type": "string"},
      "name": {"type": "string"}, "created_at": {"type": "string"},
      "expires_at": {"type": ["string", "null"]}, "last_used": {"type": ["string", "null"]},
      "last_used_at": {"type": ["string", "null"]}}
  },
  "ApiKeyCreated": {
    "allOf": [{"$ref": "#/components/schemas/ApiKey"}, {"type": "object", "properties": {
      "api_key": {"type": "string", "description": "ara_ + 43 base62 characters, shown once"},
      "key": {"type": "string"}, "message": {"type": "string"}}}]
  },
  "ApiKeyList": {
    "type": "object",
    "properties": {"keys": {"type": "array", "items": {"$ref": "#/components/schemas/ApiKey"}},
      "count": {"type": "integer"}}
  },
  "Connectivity": {
    "type": "object",
    "properties": {"status": {"type": "string",
      "enum": ["ok", "degraded", "failed", "no_providers"]},
      "providers": {"type": "array"}, "checked_at": {"type": "string"}}
  },
  "BackupStatus": {"type": "string",
    "enum": ["pending", "in_progress", "completed", "verified", "failed", "expired"]},
  "Backup": {
    "type": "object",
    "description": "A manifest entry (the original's BackupMetadata plus kind, file_name, compressed, encrypted, schema_version, app_version, receipt_keys, keys_file).",
    "required": ["id", "created_at", "backup_type", "status", "backup_path", "checksum"],
    "properties": {
      "id": {"type": "string", "description": "8 hex characters; a unique prefix also names it"},
      "created_at": {"type": "string"}, "backup_type": {"type": "string",
        "enum": ["full", "incremental", "differential"]},
      "status": {"$ref": "#/components/schemas/BackupStatus"},
      "source_path": {"type": "string"}, "backup_path": {"type": "string"},
      "size_bytes": {"type": "integer"}, "compressed_size_bytes": {"type": "integer"},
      "checksum": {"type": "string", "description": "SHA-256 of the backup file"},
      "row_counts": {"type": "object", "additionalProperties": {"type": "integer"}},
      "tables": {"type": "array", "items": {"type": "string"}},
      "duration_seconds": {"type": "number"}, "verified": {"type": "boolean"},
      "verified_at": {"type": ["string", "null"]}, "restore_tested": {"type": "boolean"},
      "error": {"type": ["string", "null"]}, "storage_backend": {"type": "string"},
      "encryption_key_id": {"type": ["string", "null"]}, "metadata": {"type": "object"},
      "schema_hash": {"type": "string"}, "table_checksums": {"type": "object"},
      "foreign_keys": {"type": "array"}, "indexes": {"type": "array"},
      "kind": {"type": "string", "enum": ["sqlite", "postgresql"]},
      "file_name": {"type": "string"}, "compressed": {"type": "boolean"},
      "encrypted": {"type": "boolean"}, "schema_version": {"type": "integer"},
      "app_version": {"type": "string"}, "receipt_keys": {"type": "array"},
      "keys_file": {"type": "string"}
    }
  },
  "BackupList": {
    "type": "object", "required": ["backups", "pagination"],
    "properties": {
      "backups": {"type": "array", "items": {"$ref": "#/components/schemas/Backup"}},
      "pagination": {"type": "object", "required": ["limit", "offset", "total", "has_more"],
        "properties": {"limit": {"type": "integer"}, "offset": {"type": "integer"},
          "total": {"type": "integer"}, "has_more": {"type": "boolean"}}}
    }
  },
  "CreateBackupRequest": {
    "type": "object",
    "description": "Every member is optional: a backup is always of the configured database.",
    "properties": {
      "source_path": {"type": "string", "description": "When given: the configured SQLite database (inside the data dir), else 400/403"},
      "backup_type": {"type": "string", "enum": ["full", "incremental", "differential"], "default": "full"},
      "notes": {"type": "string"}, "metadata": {"type": "object"}
    }
  },
  "BackupCreated": {
    "type": "object", "required": ["backup", "message"],
    "properties": {"backup": {"$ref": "#/components/schemas/Backup"},
      "message": {"type": "string"},
      "verification": {"oneOf": [{"$ref": "#/components/schemas/BackupVerification"},
        {"type": "null"}]}}
  },
  "BackupDeleted": {
    "type": "object", "required": ["deleted", "backup_id", "message"],
    "properties": {"deleted": {"type": "boolean"}, "backup_id": {"type": "string"},
      "message": {"type": "string"}}
  },
  "VerificationFailure": {
    "type": "object", "required": ["check", "message"],
    "properties": {"check": {"type": "string"}, "table": {"type": "string"},
      "receipt_id": {"type": "string"}, "chain_seq": {"type": "integer"},
      "message": {"type": "string"}}
  },
  "BackupVerification": {
    "type": "object",
    "required": ["backup_id", "verified", "checksum_valid", "restore_tested", "tables_valid",
      "row_counts_valid", "errors", "warnings", "verified_at", "duration_seconds"],
    "properties": {
      "backup_id": {"type": "string"}, "verified": {"type": "boolean"},
      "checksum_valid": {"type": "boolean"}, "restore_tested": {"type": "boolean"},
      "tables_valid": {"type": "boolean"}, "row_counts_valid": {"type": "boolean"},
      "schema_valid": {"type": "boolean"}, "integrity_valid": {"type": "boolean"},
      "table_checksums_valid": {"type": "boolean"}, "receipts_valid": {"type": "boolean"},
      "errors": {"type": "array", "items": {"type": "string"}},
      "warnings": {"type": "array", "items": {"type": "string"}},
      "verified_at": {"type": "string"}, "duration_seconds": {"type": "number"},
      "receipt_chain": {"type": "object"}, "rows_verified": {"type": "integer"},
      "failures": {"type": "array", "items": {"$ref": "#/components/schemas/VerificationFailure"}}
    }
  },
  "BackupComprehensiveVerification": {
    "type": "object",
    "required": ["backup_id", "verified", "basic_verification", "schema_validation",
      "integrity_check", "table_checksums_valid", "all_errors", "all_warnings"],
    "properties": {
      "backup_id": {"type": "string"}, "verified": {"type": "boolean"},
      "basic_verification": {"type": "object"},
      "schema_validation": {"type": ["object", "null"]},
      "integrity_check": {"type": ["object", "null"]},
      "table_checksums_valid": {"type": "boolean"},
      "all_errors": {"type": "array", "items": {"type": "string"}},
      "all_warnings": {"type": "array", "items": {"type": "string"}},
      "verified_at": {"type": "string"}, "duration_seconds": {"type": "number"},
      "receipt_chain": {"type": "object"},
      "failures": {"type": "array", "items": {"$ref": "#/components/schemas/VerificationFailure"}}
    }
  },
  "RestoreTestRequest": {
    "type": "object",
    "properties": {"target_path": {"type": "string", "default": "restore_test.sqlite3",
      "description": "Inside ARAGORA_RESTORE_DIR (relative names are taken there); else 403"}}
  },
  "RestoreTestResult": {
    "type": "object",
    "required": ["backup_id", "restore_test_passed", "target_path", "dry_run", "message"],
    "properties": {
      "backup_id": {"type": "string"}, "restore_test_passed": {"type": "boolean"},
      "target_path": {"type": "string"}, "dry_run": {"const": true},
      "message": {"type": "string"}, "verified": {"type": "boolean"},
      "verification": {"oneOf": [{"$ref": "#/components/schemas/BackupVerification"},
        {"type": "null"}]},
      "missing_key_ids": {"type": "array", "items": {"type": "string"}},
      "duration_seconds": {"type": "number"}
    }
  },
  "CleanupRequest": {
    "type": "object",
    "properties": {"dry_run": {"type": "boolean", "default": true}}
  },
  "CleanupResult": {
    "type": "object", "required": ["dry_run", "backup_ids", "count", "message"],
    "properties": {"dry_run": {"type": "boolean"},
      "backup_ids": {"type": "array", "items": {"type": "string"}},
      "count": {"type": "integer"}, "kept": {"type": "array", "items": {"type": "string"}},
      "errors": {"type": "array", "items": {"type": "string"}}, "message": {"type": "string"}}
  },
  "BackupStats": {
    "type": "object", "required": ["stats", "generated_at"],
    "properties": {
      "stats": {"type": "object",
        "required": ["total_backups", "verified_backups", "failed_backups", "total_size_bytes",
          "total_size_mb", "latest_backup", "retention_policy"],
        "properties": {"total_backups": {"type": "integer"},
          "verified_backups": {"type": "integer"}, "failed_backups": {"type": "integer"},
          "total_size_bytes": {"type": "integer"}, "total_size_mb": {"type": "number"},
          "latest_backup": {"oneOf": [{"$ref": "#/components/schemas/Backup"}, {"type": "null"}]},
          "retention_policy": {"$ref": "#/components/schemas/RetentionPolicy"}}},
      "generated_at": {"type": "string"}
    }
  },
  "RetentionPolicy": {
    "type": "object",
    "properties": {"keep_daily": {"type": "integer"}, "keep_weekly": {"type": "integer"},
      "keep_monthly": {"type": "integer"}, "min_backups": {"type": "integer"}}
  },
  "DrStatus": {
    "type": "object",
    "required": ["status", "readiness_score", "backup_status", "rpo_status", "issues",
      "recommendations", "checked_at"],
    "properties": {
      "status": {"type": "string", "enum": ["healthy", "warning", "critical"]},
      "readiness_score": {"type": "integer", "minimum": 0, "maximum": 100},
      "backup_status": {"type": "object"}, "rpo_status": {"type": "object"},
      "issues": {"type": "array", "items": {"type": "string"}},
      "recommendations": {"type": "array", "items": {"type": "string"}},
      "checked_at": {"type": "string"},
      "last_drill": {"oneOf": [{"$ref": "#/components/schemas/DrDrillReport"}, {"type": "null"}]},
      "scheduler": {"type": "object"},
      "retention_policy": {"$ref": "#/components/schemas/RetentionPolicy"},
      "backup_dir": {"type": "string"}
    }
  },
  "DrObjectives": {
    "type": "object", "required": ["rpo", "rto", "backup_coverage", "generated_at"],
    "properties": {"rpo": {"type": "object"}, "rto": {"type": "object"},
      "backup_coverage": {"type": "object"}, "tiers": {"type": "array"},
      "generated_at": {"type": "string"}}
  },
  "DrDrillRequest": {
    "type": "object",
    "properties": {"backup_id": {"type": "string", "description": "Default: the newest verified backup"},
      "drill_type": {"type": "string", "enum": ["restore_test", "full_recovery_sim"],
        "default": "restore_test"}}
  },
  "DrDrillReport": {
    "type": "object", "required": ["drill_id", "backup_id", "started_at", "status"],
    "properties": {
      "drill_id": {"type": "string"}, "backup_id": {"type": "string"},
      "started_at": {"type": "string"}, "completed_at": {"type": ["string", "null"]},
      "duration_seconds": {"type": "number"},
      "status": {"type": "string", "enum": ["passed", "failed"]},
      "tables_verified": {"type": "integer"}, "rows_verified": {"type": "integer"},
      "checksum_valid": {"type": "boolean"}, "schema_valid": {"type": "boolean"},
      "integrity_valid": {"type": "boolean"},
      "errors": {"type": "array", "items": {"type": "string"}}, "metadata": {"type": "object"},
      "rpo_seconds": {"type": "number"}, "rto_seconds": {"type": "number"},
      "receipts_verified": {"type": "integer"}, "receipts_valid": {"type": "boolean"},
      "drill_type": {"type": "string"}, "success": {"type": "boolean"}
    }
  }
})json";

json::value Ref(std::string_view schema) {
    return json::object{{"$ref", "#/components/schemas/" + std::string(schema)}};
}

json::object JsonContent(const json::value& schema) {
    return json::object{{"application/json", json::object{{"schema", schema}}}};
}

// "{rest...}" is written "{rest}" in OpenAPI.
std::string OpenApiPath(const std::string& path) {
    std::string out = path;
    for (size_t pos; (pos = out.find("...}")) != std::string::npos;) out.erase(pos, 3);
    return out;
}

std::vector<std::string> PathParams(const std::string& path) {
    std::vector<std::string> out;
    for (size_t open = path.find('{'); open != std::string::npos; open = path.find('{', open)) {
        size_t close = path.find('}', open);
        if (close == std::string::npos) break;
        std::string name = path.substr(open + 1, close - open - 1);
        if (name.size() > 3 && name.compare(name.size() - 3, 3, "...") == 0)
            name.resize(name.size() - 3);
        out.push_back(name);
        open = close;
    }
    return out;
}

std::string OperationId(const Route& route) {
    std::string id = common::ToLower(route.method);
    bool sep = true;
    for (char c : OpenApiPath(route.path)) {
        if (std::isalnum(static_cast<unsigned char>(c))) {
            if (sep) id += '_';
            id += c;
            sep = false;
        } else {
            sep = true;
        }
    }
    return id;
}

json::object QueryParam(std::string_view name, std::string_view description, json::value schema) {
    return json::object{{"name", name},
                        {"in", "query"},
                        {"required", false},
                        {"description", description},
                        {"schema", std::move(schema)}};
}

// The path without its version prefix: "/api/v1/audit" and its alias "/api/audit" are both
// "audit"; other paths as they are.
std::string_view ApiTail(std::string_view path) {
    if (path.starts_with("/api/v1/")) return path.substr(8);
    if (path.starts_with("/api/")) return path.substr(5);
    return path;
}

json::object StringEnum(std::initializer_list<std::string_view> values,
                        std::string_view default_value = {}) {
    json::array list;
    for (std::string_view v : values) list.emplace_back(v);
    json::object schema{{"type", "string"}, {"enum", std::move(list)}};
    if (!default_value.empty()) schema["default"] = default_value;
    return schema;
}

// The query parameters each handler reads, with its defaults and bounds (IntQueryParam's
// min/max): integration test OpenApiConformance calls every documented GET with them.
json::array Parameters(const Route& route) {
    json::array params;
    for (const std::string& name : PathParams(route.path)) {
        params.push_back(json::object{{"name", name},
                                      {"in", "path"},
                                      {"required", true},
                                      {"schema", json::object{{"type", "string"}}}});
    }
    const std::string& s = route.response_schema;
    const json::object limit100{
        {"type", "integer"}, {"minimum", 1}, {"maximum", 100}, {"default", 20}};
    const json::object offset{{"type", "integer"}, {"minimum", 0}, {"default", 0}};
    const std::string_view tail = ApiTail(route.path);
    if (s == "DebateList") {
        params.push_back(QueryParam("status", "Only debates in this state",
                                    StringEnum({"pending", "running", "completed", "failed",
                                                "cancelled", "active", "no_consensus"})));
        params.push_back(QueryParam("limit", "Page size", limit100));
        params.push_back(QueryParam("offset", "Items to skip", offset));
        params.push_back(QueryParam(
            "q", "Only debates whose task contains this text (case-insensitive; % and _ literal)",
            json::object{{"type", "string"}, {"maxLength", 200}}));
    } else if (s == "BackupList") {
        params.push_back(QueryParam("limit", "Page size", limit100));
        params.push_back(QueryParam(
            "offset", "Items to skip",
            json::object{{"type", "integer"}, {"minimum", 0}, {"maximum", 10000}, {"default", 0}}));
        params.push_back(QueryParam(
            "status", "Only backups with this status",
            StringEnum({"pending", "in_progress", "completed", "verified", "failed", "expired"})));
        params.push_back(QueryParam(
            "since", "Created at or after (epoch seconds or ISO 8601 UTC)",
            json::object{{"type", "string"}, {"examples", json::array{"2026-01-01T00:00:00Z"}}}));
        params.push_back(QueryParam("source", "Only backups of this source_path",
                                    json::object{{"type", "string"}}));
    } else if (s == "ReceiptList") {
        params.push_back(QueryParam("debate_id", "Only this debate's receipt",
                                    json::object{{"type", "string"}}));
        params.push_back(QueryParam("limit", "Page size", limit100));
        params.push_back(QueryParam("offset", "Items to skip", offset));
    } else if (s == "ReceiptDeletionList") {
        params.push_back(QueryParam(
            "limit", "Page size",
            json::object{{"type", "integer"}, {"minimum", 1}, {"maximum", 1000}, {"default", 50}}));
        params.push_back(QueryParam("offset", "Items to skip", offset));
        params.push_back(
            QueryParam("reason", "Only deletions for this reason",
                       StringEnum({"retention_expired", "user_request", "gdpr_erasure",
                                   "admin_action", "data_correction", "legal_hold_release"})));
    } else if (s == "MessageList") {
        params.push_back(QueryParam(
            "limit", "Page size",
            json::object{{"type", "integer"}, {"minimum", 1}, {"maximum", 500}, {"default", 50}}));
        params.push_back(QueryParam("offset", "Messages to skip", offset));
    } else if (s == "EventPage") {
        params.push_back(QueryParam("since",
                                    "Return events with seq > since (not a positive integer: 0)",
                                    json::object{{"type", "integer"}, {"default", 0}}));
        params.push_back(
            QueryParam("limit", "Page size (at most 500 are returned)",
                       json::object{{"type", "integer"}, {"minimum", 1}, {"default", 100}}));
    } else if (s == "DebateExport" && PathParams(route.path).size() == 1) {
        params.push_back(QueryParam("format", "Export format (case-insensitive)",
                                    StringEnum({"json", "md", "markdown", "html", "csv"}, "json")));
    } else if (s == "ReceiptExport" || (s == "Receipt" && route.path.ends_with("/receipt"))) {
        params.push_back(QueryParam("format", "Export format",
                                    StringEnum({"json", "md", "markdown", "html"}, "json")));
    } else if (s == "Health") {
        params.push_back(
            QueryParam("deep", "1 or true for a deep check (anything else: the quick one)",
                       json::object{{"type", "string"}, {"examples", json::array{"true", "1"}}}));
    } else if (s == "VerifyResult") {
        params.push_back(QueryParam("integrity_only",
                                    "true: compare the content hash only (no signature check; "
                                    "the answer is labelled integrity-only)",
                                    json::object{{"type", "boolean"}}));
    } else if (tail == "audit") {
        params.push_back(QueryParam(
            "limit", "Newest entries to return",
            json::object{
                {"type", "integer"}, {"minimum", 1}, {"maximum", 1000}, {"default", 100}}));
        params.push_back(
            QueryParam("since", "Only entries at or after this time (ISO 8601)",
                       json::object{{"type", "string"},
                                    {"format", "date-time"},
                                    {"examples", json::array{"2026-01-01T00:00:00Z"}}}));
    } else if (tail == "billing/usage") {
        params.push_back(QueryParam("period",
                                    "The window ending now: 1, 7, 30 or 365 days, or everything",
                                    StringEnum({"day", "week", "month", "year", "all"}, "month")));
    } else if (tail == "system/errors") {
        params.push_back(QueryParam(
            "limit", "Newest errors to return",
            json::object{{"type", "integer"}, {"minimum", 1}, {"maximum", 1000}, {"default", 50}}));
    } else if (tail == "auth/api-key" && route.method == "DELETE") {
        params.push_back(QueryParam(
            "id", "Revoke only this key (its id, the prefix); without it every key of the caller",
            json::object{{"type", "string"}, {"pattern", "^[A-Za-z0-9_-]{1,128}$"}}));
    }
    return params;
}

json::object SuccessContent(const Route& route) {
    const std::string& s = route.response_schema;
    if (s.empty()) return JsonContent(json::object{{"type", "object"}});
    if (s == "Prometheus") {
        return json::object{
            {"text/plain", json::object{{"schema", json::object{{"type", "string"}}}}}};
    }
    json::object content = JsonContent(Ref(s));
    const bool debate_doc = s == "DebateExport";
    const bool receipt_doc =
        s == "ReceiptExport" || (s == "Receipt" && route.path.ends_with("/receipt"));
    if (debate_doc || receipt_doc) {
        const json::object text{{"schema", json::object{{"type", "string"}}}};
        content["text/markdown"] = text;
        content["text/html"] = text;
        if (debate_doc) content["text/csv"] = text;
    }
    return content;
}

json::object Operation(const Router::Entry& entry) {
    const Route& route = entry.route;
    json::object op;
    op["operationId"] = OperationId(route);
    op["summary"] = route.summary;
    op["tags"] = json::array{json::value(route.tag)};
    json::array params = Parameters(route);
    if (!params.empty()) op["parameters"] = std::move(params);
    if (!route.request_schema.empty()) {
        // The backup and drill bodies are optional (every member has a default).
        const bool optional_body = route.request_schema == "CreateBackupRequest" ||
                                   route.request_schema == "CleanupRequest" ||
                                   route.request_schema == "RestoreTestRequest" ||
                                   route.request_schema == "DrDrillRequest";
        op["requestBody"] = json::object{{"required", !optional_body},
                                         {"content", JsonContent(Ref(route.request_schema))}};
    }
    // What the handlers answer on success: 201 for the POSTs that create something
    // (debates.cpp, backups.cpp, auth_routes.cpp CreateKey and AddUserRoute), 200 else.
    const std::string& rs = route.response_schema;
    const bool created =
        route.method == "POST" && (rs == "CreateDebateResponse" || rs == "BackupCreated" ||
                                   rs == "ApiKeyCreated" || rs == "UserResponse");
    json::object responses;
    responses[created ? "201" : "200"] = json::object{{"description", created ? "Created" : "OK"},
                                                      {"content", SuccessContent(route)}};
    const std::string& s = route.response_schema;
    if (s == "Readiness" || s == "Health" || s == "DeepHealth") {
        responses["503"] = json::object{{"description", "Not ready / unhealthy"},
                                        {"content", JsonContent(Ref(s))}};
    }
    responses["default"] =
        json::object{{"description", "Error"}, {"content", JsonContent(Ref("Error"))}};
    op["responses"] = std::move(responses);
    if (route.auth == AuthLevel::kPublic) {
        op["security"] = json::array{};
    } else {
        op["security"] = json::array{json::object{{"bearerAuth", json::array{}}}};
    }
    static constexpr const char* kAuthNames[] = {"public", "user", "member", "admin", "owner"};
    static constexpr const char* kPermissionOf[] = {"", "read", "debate:create", "admin", "owner"};
    if (route.auth != AuthLevel::kPublic) {
        op["x-permission"] = kPermissionOf[static_cast<int>(route.auth)];
    }
    static constexpr const char* kRateNames[] = {"none", "read", "write", "debate_create", "auth"};
    op["x-auth-level"] = kAuthNames[static_cast<int>(route.auth)];
    op["x-rate-class"] = kRateNames[static_cast<int>(route.rate)];
    if (entry.alias) op["x-alias-of"] = "/api/v1/" + route.path.substr(5);
    return op;
}

}  // namespace

std::string OpenApiJson(const Router& router) {
    json::object paths;
    std::vector<std::string> tags;
    for (const Router::Entry& entry : router.entries()) {
        if (entry.route.tag == "console") continue;  // the web console's pages, not API
        json::value& item = paths[OpenApiPath(entry.route.path)];
        if (!item.is_object()) item = json::object{};
        item.get_object()[common::ToLower(entry.route.method)] = Operation(entry);
        if (std::find(tags.begin(), tags.end(), entry.route.tag) == tags.end()) {
            tags.push_back(entry.route.tag);
        }
    }
    json::array tag_list;
    for (const std::string& t : tags) tag_list.push_back(json::object{{"name", t}});

    json::object doc;
    doc["openapi"] = "3.1.0";
    doc["info"] = json::object{
        {"title", "Aragora API"},
        {"version", ARAGORA_VERSION},
        {"description",
         "Adversarial multi-agent debates and signed decision receipts. Every /api/v1/ route "
         "is also served under /api/ (x-alias-of)."}};
    doc["servers"] = json::array{json::object{{"url", "/"}}};
    doc["tags"] = std::move(tag_list);
    doc["paths"] = std::move(paths);
    // Which role holds which permission (auth/roles.cpp); x-permission of each operation
    // names the one it needs.
    doc["x-roles"] = auth::PermissionTableJson();
    doc["components"] = json::object{
        {"schemas", json::parse(kSchemas)},
        {"securitySchemes",
         json::object{
             {"bearerAuth", json::object{{"type", "http"},
                                         {"scheme", "bearer"},
                                         {"description",
                                          "ARAGORA_API_TOKEN, a JWT, or an API key (ara_...)"}}}}}};
    return common::SerializeJson(doc);
}

}  // namespace aragora::api
