// ESLint flat config, run by `npm run lint`: typescript-eslint's recommended rules with type
// information (floating or misused promises, awaits of non-promises, unsafe `+` and template
// strings...), for lib/, test/, bench/ and scripts/.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'build/', 'node_modules/', 'bench/out/', 'bench-out/', 'public/', 'docs/', 'templates/'] },
  js.configs.recommended,
  {
    files: ['**/*.ts'],
    extends: [...tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      // Each file is checked with its nearest tsconfig.json: test/ gets mocha's globals, lib/ does not.
      parserOptions: { projectService: true, tsconfigRootDir: path.dirname(fileURLToPath(import.meta.url)) },
    },
    rules: {
      // Lazy require() is deliberate: `--help` and the bench must not load the addon or servers they do not run.
      '@typescript-eslint/no-require-imports': 'off',
      // require() and JSON.parse() give `any`, narrowed where used; flagging every use would mean a cast at each.
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/return-await': ['error', 'in-try-catch'],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
    },
  },
  {
    files: ['**/*.js'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: {
        require: 'readonly',
        module: 'writable',
        __dirname: 'readonly',
        process: 'readonly',
        Buffer: 'readonly',
        console: 'readonly',
      },
    },
  },
);
