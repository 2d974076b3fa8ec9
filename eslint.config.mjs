import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.tmp/**', '*.js', '*.mjs'] },
  {
    files: ['**/*.mjs'],
    languageOptions: {
      globals: Object.fromEntries(
        ['process', 'console', 'fetch', 'AbortSignal', 'setTimeout', 'clearTimeout', 'URL', 'Buffer'].map((g) => [g, 'readonly']),
      ),
    },
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'warn',
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['../../../*'], message: 'Import shared code through a path alias (@ha/...)' }] },
      ],
    },
  },
  {
    files: ['apps/heartbeat-agent/**/*.ts', 'libs/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/orchestrator/**', '../../../*'], message: 'The agent and libs never import the orchestrator' }] },
      ],
    },
  },
  {
    // The agent's memory budget (issue 8): no decorator libraries at run time, and the contracts'
    // index (which loads them) for types only; import values from their modules (@ha/contracts/roles).
    files: ['apps/heartbeat-agent/**/*.ts'],
    ignores: ['**/*.spec.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            { name: '@ha/contracts', allowTypeImports: true, message: 'Values from @ha/contracts/<module>: the index loads class-validator' },
            ...['class-validator', 'class-transformer', 'reflect-metadata', 'yaml'].map((name) => ({
              name,
              message: 'Not in the agent at run time (memory): see apps/heartbeat-agent/src/validation.ts',
            })),
          ],
          patterns: [
            {
              group: ['@ha/contracts/heartbeat', '@ha/contracts/actions', '@ha/contracts/index'],
              allowTypeImports: true,
              message: 'These modules load class-validator: types only in the agent',
            },
          ],
        },
      ],
    },
  },
);
