# 10000 nested flow sequences inside a path's 'to'.
{
	printf 'accounts:\n  - { id: alice, kind: human, workflow: staff }\n'
	printf 'paths:\n  - { id: sso, kind: login, methods: [password], to: '
	head -c 10000 /dev/zero | tr '\0' '['
	head -c 10000 /dev/zero | tr '\0' ']'
	printf ' }\n'
} > estate.yaml
