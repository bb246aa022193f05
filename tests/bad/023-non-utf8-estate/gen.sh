# A Latin-1 e-acute (byte 0xE9) in an account id.
{
	printf 'accounts:\n'
	printf '  - { id: alice, kind: human, workflow: staff }\n'
	printf '  - { id: ren\351, kind: human, workflow: staff }\n'
	printf 'paths:\n'
	printf '  - { id: sso, kind: login, to: [alice], methods: [password, totp] }\n'
} > estate.yaml
