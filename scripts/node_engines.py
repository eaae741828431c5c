"""What differs between the two engines a local node can run: which distribution it is
assembled from, how its launcher is told its config, Java and heap, and the settings only
that engine knows. Everything else (cache, JDK 21, run user, loopback, pid file, health wait)
is one code path in `scripts/opensearch_node.py`.

The Elasticsearch node is the `integ-test-zip` distribution from Maven Central with security
off. It carries only the modules apm, transport-netty4, x-pack-core and x-pack-security, and
Elastic publishes no other module there (tried: `org.elasticsearch.plugin:analysis-common`,
`org.elasticsearch.module:analysis-common`, the default distribution), so this node has no
`english` analyzer, no `asciifolding`, no painless and no `GET /`: the Elasticsearch mapping
falls back to what the server has (engine/dialect.py), and the engine is told apart by the
`_nodes` info instead of the root endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass

from visearch.scripts.node_provision import HERE, PLAIN, SECURE, Distribution


@dataclass(frozen=True)
class NodeEngine:
    """One engine a local node can run."""

    name: str
    """`opensearch` or `elasticsearch`: names the node's pid file."""
    title: str
    distribution: Distribution
    secure_distribution: Distribution | None
    """With TLS and users; None where the project cannot assemble one."""
    env_prefix: str
    """The launcher reads `<prefix>_PATH_CONF`, `<prefix>_JAVA_OPTS`, `<prefix>_JAVA_HOME`."""
    config_file: str
    settings: str
    """Lines the engine's config file gets beyond the common ones (scripts/node_config.py)."""
    folder_suffix: str
    """Added to the node's data, log and config folder names, so two engines on one port
    never share state; empty for OpenSearch, whose folders keep their names."""

    @property
    def launcher(self) -> str:
        return f"bin/{self.name}"

    def env_names(self) -> tuple[str, str, str]:
        """The launcher's config, JVM options and Java home variables."""
        prefix = self.env_prefix
        return f"{prefix}_PATH_CONF", f"{prefix}_JAVA_OPTS", f"{prefix}_JAVA_HOME"


ELASTICSEARCH_VERSION = "9.2.0"

OPENSEARCH = NodeEngine(
    name="opensearch",
    title="OpenSearch",
    distribution=PLAIN,
    secure_distribution=SECURE,
    env_prefix="OPENSEARCH",
    config_file="opensearch.yml",
    settings="",
    folder_suffix="",
)
ELASTICSEARCH = NodeEngine(
    name="elasticsearch",
    title="Elasticsearch",
    distribution=Distribution(
        ELASTICSEARCH_VERSION, (), HERE / "elasticsearch-node.pom.xml", product="elasticsearch"
    ),
    secure_distribution=None,
    env_prefix="ES",
    config_file="elasticsearch.yml",
    # Plain HTTP like the plain OpenSearch node; x-pack-security would otherwise demand TLS
    # and the elastic user's password.
    settings="xpack.security.enabled: false\n",
    folder_suffix="es",
)
ENGINES = {engine.name: engine for engine in (OPENSEARCH, ELASTICSEARCH)}
