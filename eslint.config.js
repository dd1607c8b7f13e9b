import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.tmp/**', '.tmp-docs-*/**', 'bench/results/**', 'docs/api/**', 'bench/.build/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Code that runs once per task, message or event: an object built as `{ ...x, field }` gets a
    // hidden class of its own in optimized V8 code when `field` is new to it, and those classes
    // kept tasks' young objects alive through scavenges (CHANGELOG, "A postrun observer made the
    // worker's garbage collection several times costlier"). Write the fields out, or use
    // `Object.assign({}, x, { field })` for trusted objects.
    files: [
      'src/execution/**/*.ts',
      'src/protocol/**/*.ts',
      'src/transport/memory/**/*.ts',
      'src/transport/nats/{pull-subscription,lean-publisher,frames,ack-subject,nats-transport,nats-kv}.ts',
      'src/app/{publish,publisher,middleware}.ts',
      'src/results/{result-backend,result-router,chord-join,async-result}.ts',
    ],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: 'ObjectExpression > SpreadElement:first-child + Property',
          message: 'Hot path: `{ ...x, field }` can give every object its own hidden class (V8). Write the fields out, or use Object.assign({}, x, { field }).',
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
);
