// Package workflows holds the tests that lint the project's CI files: the
// GitHub workflows in .github/workflows, the composite action's action.yml
// and the GitLab template in templates/gitlab-ci.yml.
//
// The checks are those of two oracles that scripts/oracles.sh builds:
// actionlint (rhysd/actionlint, pinned) and yamlcheck
// (internal/tools/oracles/cmd/yamlcheck: YAML errors, the template's and the
// action's shape, no ${{ }} inside run). The tests add one rule of their
// own: every `uses:` is a local path (./...) or owner/repo@<40-hex commit>
// followed by a `# vX.Y.Z` comment, so a moved tag changes nothing that runs.
//
// As with the other oracle-backed tests, a missing oracle skips locally and
// fails under CI=true (internal/testing/oracle). Negative tests feed each check a
// file it must reject, so a check that silently stops biting is a failure.
package workflows
