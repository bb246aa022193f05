/*
 * Importers (docs/importers.md): turn what identity platforms export into an
 * estate, through the same ag_estate_add_account / ag_estate_add_path
 * calls, and so the same validation, as the estate file loader.
 */
#ifndef AALGATE_IMPORT_H
#define AALGATE_IMPORT_H

#include "aalgate/audit.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest export read, in bytes. */
#define AG_IMPORT_MAX_BYTES (512u * 1024u * 1024u)

struct ag_import_opts {
	/* A YAML file mapping realm and client roles to workflows, or NULL
	 * for the default: admin roles -> "admin", everyone else -> "staff".
	 * See docs/importers.md. */
	const char *mapping;
};

/*
 * A Keycloak realm export (one realm object, or a JSON array of realms):
 * the browser, reset-credentials, direct-grant, first-broker-login and
 * client-authentication flows with per-client overrides, direct-grant
 * and service-account clients, session lifetimes, the ACR-to-LoA map,
 * users and groups.  An unknown authenticator is an error naming it,
 * never a guess.
 */
AG_API ag_code ag_import_keycloak(struct ag_estate *e, const char *path,
				  const struct ag_import_opts *opts,
				  struct ag_error *err);
AG_API ag_code ag_import_keycloak_buffer(struct ag_estate *e, const char *name,
					 const char *buf, size_t len,
					 const struct ag_import_opts *opts,
					 struct ag_error *err);

/*
 * An AWS IAM credential report (CSV, as documented by AWS): every user an
 * account, console passwords as login paths with or without MFA, access
 * keys as machine credentials with their rotation and last-use dates.
 */
AG_API ag_code ag_import_aws_report(struct ag_estate *e, const char *path,
				    const struct ag_import_opts *opts,
				    struct ag_error *err);
AG_API ag_code ag_import_aws_report_buffer(struct ag_estate *e,
					   const char *name, const char *buf,
					   size_t len,
					   const struct ag_import_opts *opts,
					   struct ag_error *err);

enum ag_input_kind {
	AG_INPUT_ESTATE = 0, /* an estate file (YAML) */
	AG_INPUT_KEYCLOAK,   /* a Keycloak realm export (JSON) */
	AG_INPUT_AWS_REPORT  /* an AWS IAM credential report (CSV) */
};

/* Recognises an input by its content (docs/importers.md, one-step forms). */
AG_API enum ag_input_kind ag_input_sniff(const char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif
