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
);
