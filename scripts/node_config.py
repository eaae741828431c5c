"""The config folder of one local node: the distribution's defaults, our `opensearch.yml`
(single node, or one member of a loopback cluster; TLS and users when secured) and a
`jvm.options` that writes GC logs and heap dumps into the node's own folders."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from visearch.scripts.opensearch_node import LocalNode

COMMON = """\
cluster.name: {cluster}
node.name: {name}
network.host: 127.0.0.1
http.port: {port}
transport.port: {transport_port}
path.data: {data}
path.logs: {logs}
cluster.routing.allocation.disk.threshold_enabled: false
action.auto_create_index: false
"""
SINGLE = "discovery.type: single-node\n"
# Every member knows every other's transport port; the first start of the cluster elects its
# first cluster manager among all of them (ignored once the cluster has formed).
CLUSTER = """\
discovery.seed_hosts: [{seeds}]
cluster.initial_cluster_manager_nodes: [{names}]
"""
# TLS on both layers with the certificates of scripts/node_security.py; the security index is
# created from config/opensearch-security/ on first start. Audit logging stays off (it would
# need an index of its own).
SECURITY = """\
plugins.security.ssl.transport.pemcert_filepath: node.pem
plugins.security.ssl.transport.pemkey_filepath: node-key.pem
plugins.security.ssl.transport.pemtrustedcas_filepath: root-ca.pem
plugins.security.ssl.transport.enforce_hostname_verification: false
plugins.security.ssl.http.enabled: true
plugins.security.ssl.http.pemcert_filepath: node.pem
plugins.security.ssl.http.pemkey_filepath: node-key.pem
plugins.security.ssl.http.pemtrustedcas_filepath: root-ca.pem
plugins.security.allow_default_init_securityindex: true
plugins.security.authcz.admin_dn: ["{admin_dn}"]
plugins.security.nodes_dn: ["{node_dn}"]
plugins.security.restapi.roles_enabled: ["all_access"]
plugins.security.system_indices.enabled: true
"""


def write_config(node: LocalNode) -> None:
    """A config folder per node: the distribution's defaults plus our settings."""
    for path in (node.data, node.logs, node.config):
        path.mkdir(parents=True, exist_ok=True)
    shutil.copy2(node.dist / "config" / "log4j2.properties", node.config / "log4j2.properties")
    # jvm.options writes GC logs and heap dumps relative to the distribution; point them at ours.
    jvm_options = (node.dist / "config" / "jvm.options").read_text()
    jvm_options = jvm_options.replace("file=logs/", f"file={node.logs}/")
    jvm_options = jvm_options.replace("ErrorFile=logs/", f"ErrorFile={node.logs}/")
    jvm_options = jvm_options.replace("HeapDumpPath=data", f"HeapDumpPath={node.data}")
    # Elasticsearch names its GC log and error file without a folder (relative to the cwd).
    jvm_options = jvm_options.replace("file=gc.log", f"file={node.logs}/gc.log")
    jvm_options = jvm_options.replace("ErrorFile=hs_err", f"ErrorFile={node.logs}/hs_err")
    (node.config / "jvm.options").write_text(jvm_options)
    (node.config / "jvm.options.d").mkdir(exist_ok=True)
    (node.config / node.engine.config_file).write_text(settings_text(node))
    if node.secure:
        from visearch.scripts.node_security import install_security_config

        install_security_config(node)


def settings_text(node: LocalNode) -> str:
    """The node's opensearch.yml (or elasticsearch.yml: the same keys, plus its engine's)."""
    text = COMMON.format(
        cluster=node.cluster_name,
        name=node.node_name,
        port=node.port,
        transport_port=node.transport_port,
        data=node.data,
        logs=node.logs,
    )
    if node.members:
        seeds = ", ".join(f'"127.0.0.1:{member.transport_port}"' for member in node.peers())
        names = ", ".join(f'"{member.node_name}"' for member in node.peers())
        text += CLUSTER.format(seeds=seeds, names=names)
    else:
        text += SINGLE
    text += node.engine.settings
    if node.secure:
        from visearch.scripts.node_security import ADMIN_DN, NODE_DN

        text += SECURITY.format(admin_dn=ADMIN_DN, node_dn=NODE_DN)
    return text
