/** Two projects: unit specs beside the code, and integration/e2e tests under test/ (real PG/Redis/processes). */
const common = {
  moduleFileExtensions: ['js', 'json', 'ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  testEnvironment: 'node',
  moduleNameMapper: {
    '^@ha/contracts$': '<rootDir>/libs/contracts/src',
    '^@ha/contracts/(.*)$': '<rootDir>/libs/contracts/src/$1',
    '^@ha/testing$': '<rootDir>/libs/testing/src',
    '^@ha/testing/(.*)$': '<rootDir>/libs/testing/src/$1',
  },
};
module.exports = {
  // 2 cores: never more than 2 test files at once.
  maxWorkers: 2,
  // Integration tests start real processes; each asserts behaviour with generous timeouts.
  testTimeout: 120000,
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/apps/**/*.spec.ts', '<rootDir>/libs/**/*.spec.ts', '<rootDir>/test/**/*.spec.ts'] },
    {
      ...common,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'],
    },
  ],
};
