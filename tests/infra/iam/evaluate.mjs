// Evaluate a batch of IAM requests with @cloud-copilot/iam-simulate (pinned in package.json).
//
// stdin:  {"cases": [{"id": "...", "simulation": <Simulation>}, ...]}
// stdout: {"decisions": {"<id>": "Allowed" | "ImplicitlyDenied" | "ExplicitlyDenied" | "Error: <message>"}}
//
// runUnsafeSimulation, not runSimulation: the checked entry point drops context keys it does not
// know for the action, and kms:EncryptionContext:<key> is one of them, which would make every KMS
// case evaluate without its encryption context. The Python side (tests/infra/iam/) builds every
// request itself; it counts "Allowed" as allow, the two denials as deny, and an error as neither,
// so a case the evaluator could not read fails its test instead of passing as a denial.
// TENANTRY_EVALUATOR_DEBUG=1 prints each error's stack on stderr.
import { readFileSync } from 'node:fs'
import { runUnsafeSimulation } from '@cloud-copilot/iam-simulate'

// runUnsafeSimulation loads the resource policy without a name, and the engine then reads
// metadata().name from it and throws. A policy already shaped as iam-policy's ValidatedPolicy
// carries its own metadata, so wrap it that way.
function named(policy, name) {
  return policy === undefined ? undefined : { __validated: true, policyDocument: policy, metadata: { name } }
}

const batch = JSON.parse(readFileSync(0, 'utf8'))
const decisions = {}
for (const { id, simulation } of batch.cases) {
  try {
    decisions[id] = runUnsafeSimulation(
      {
        identityPolicies: [],
        serviceControlPolicies: [],
        resourceControlPolicies: [],
        ...simulation,
        resourcePolicy: named(simulation.resourcePolicy, 'resource')
      },
      {}
    )
  } catch (error) {
    decisions[id] = `Error: ${error && error.message ? error.message : String(error)}`
    if (process.env.TENANTRY_EVALUATOR_DEBUG) console.error(id, error && error.stack)
  }
}
process.stdout.write(JSON.stringify({ decisions }))
