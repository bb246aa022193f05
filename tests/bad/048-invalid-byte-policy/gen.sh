# A stray 0xFF byte (never valid in UTF-8) on line 3 of the policy.
printf 'workflows:\n  staff: { aal: 2 }\n  \377admin: { aal: 3 }\n' > policy.yaml
