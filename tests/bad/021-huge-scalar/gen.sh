# One 50 MB account id in an estate: the cap is on one value, not the file.
{
	printf 'accounts:\n  - { id: alice, kind: human, workflow: staff }\n'
	printf '  - { kind: human, id: "'
	head -c 52428800 /dev/zero | tr '\0' a
	printf '" }\npaths:\n'
	printf '  - { id: sso, kind: login, to: [alice], methods: [password, totp] }\n'
} > estate.yaml
