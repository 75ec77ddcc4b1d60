//! The fields of Docker 1.41's inspect documents this engine has no setting for, with the
//! values Docker shows when they are not set. Clients index these documents directly
//! (the Python SDK reads `HostConfig.LogConfig.Type`, docker-compose reads an image's
//! `ContainerConfig`), so a missing key is a crash for them. Only missing keys are filled:
//! whatever the engine records wins.

use serde_json::{Map, Value, json};

/// Inserts the `(key, value)`s that `obj` lacks.
fn fill(obj: &mut Value, defaults: Value) {
    let (Some(map), Value::Object(defaults)) = (obj.as_object_mut(), defaults) else {
        return;
    };
    for (k, v) in defaults {
        map.entry(k).or_insert(v);
    }
}

/// Docker's container `Config` (and an image's `Config`/`ContainerConfig`) with every field,
/// from what is known (`null` or not an object: nothing).
pub fn run_config(known: Option<&Value>) -> Value {
    let mut v = match known {
        Some(Value::Object(m)) => Value::Object(m.clone()),
        _ => Value::Object(Map::new()),
    };
    fill(
        &mut v,
        json!({
            "Hostname": "",
            "Domainname": "",
            "User": "",
            "AttachStdin": false,
            "AttachStdout": false,
            "AttachStderr": false,
            "Tty": false,
            "OpenStdin": false,
            "StdinOnce": false,
            "Env": null,
            "Cmd": null,
            "Image": "",
            "Volumes": null,
            "WorkingDir": "",
            "Entrypoint": null,
            "OnBuild": null,
            "Labels": null,
        }),
    );
    v
}

/// Completes a container inspect document.
pub fn container(doc: &mut Value) {
    fill(
        doc,
        json!({
            "ExecIDs": null,
            "Platform": "linux",
            "ProcessLabel": "",
            "AppArmorProfile": "",
            "MountLabel": "",
        }),
    );
    let config = run_config(doc.get("Config"));
    doc["Config"] = config;
    if !doc["HostConfig"].is_object() {
        doc["HostConfig"] = json!({});
    }
    fill(
        &mut doc["HostConfig"],
        json!({
            "Binds": null,
            "ContainerIDFile": "",
            "LogConfig": { "Type": "json-file", "Config": {} },
            "NetworkMode": "default",
            "PortBindings": {},
            "RestartPolicy": { "Name": "no", "MaximumRetryCount": 0 },
            "AutoRemove": false,
            "VolumeDriver": "",
            "VolumesFrom": null,
            "CapAdd": null,
            "CapDrop": null,
            "CgroupnsMode": "host",
            "Dns": [],
            "DnsOptions": [],
            "DnsSearch": [],
            "ExtraHosts": null,
            "GroupAdd": null,
            "IpcMode": "private",
            "Cgroup": "",
            "Links": null,
            "OomScoreAdj": 0,
            "PidMode": "",
            "Privileged": false,
            "PublishAllPorts": false,
            "ReadonlyRootfs": false,
            "SecurityOpt": null,
            "UTSMode": "",
            "UsernsMode": "",
            "ShmSize": 67108864,
            "Runtime": "engine",
            "Isolation": "",
            "CpuShares": 0,
            "Memory": 0,
            "NanoCpus": 0,
            "CgroupParent": "",
            "BlkioWeight": 0,
            "BlkioWeightDevice": [],
            "BlkioDeviceReadBps": null,
            "BlkioDeviceWriteBps": null,
            "BlkioDeviceReadIOps": null,
            "BlkioDeviceWriteIOps": null,
            "CpuPeriod": 0,
            "CpuQuota": 0,
            "CpuRealtimePeriod": 0,
            "CpuRealtimeRuntime": 0,
            "CpusetCpus": "",
            "CpusetMems": "",
            "Devices": [],
            "DeviceCgroupRules": null,
            "DeviceRequests": null,
            "KernelMemory": 0,
            "KernelMemoryTCP": 0,
            "MemoryReservation": 0,
            "MemorySwap": 0,
            "MemorySwappiness": null,
            "OomKillDisable": false,
            "PidsLimit": null,
            "Ulimits": null,
            "CpuCount": 0,
            "CpuPercent": 0,
            "IOMaximumIOps": 0,
            "IOMaximumBandwidth": 0,
            "MaskedPaths": runtime::DEFAULT_MASKED_PATHS,
            "ReadonlyPaths": runtime::DEFAULT_READONLY_PATHS,
        }),
    );
    // 0 is "unset" in the record: the size /dev/shm gets is Docker's 64 MiB.
    if doc["HostConfig"]["ShmSize"] == 0 {
        doc["HostConfig"]["ShmSize"] = json!(67_108_864);
    }
    if !doc["NetworkSettings"].is_object() {
        doc["NetworkSettings"] = json!({});
    }
    fill(
        &mut doc["NetworkSettings"],
        json!({
            "Bridge": "",
            "SandboxID": "",
            "HairpinMode": false,
            "LinkLocalIPv6Address": "",
            "LinkLocalIPv6PrefixLen": 0,
            "Ports": {},
            "SandboxKey": "",
            "SecondaryIPAddresses": null,
            "SecondaryIPv6Addresses": null,
            "EndpointID": "",
            "Gateway": "",
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
            "IPAddress": "",
            "IPPrefixLen": 0,
            "IPv6Gateway": "",
            "MacAddress": "",
            "Networks": {},
        }),
    );
}

/// Completes an image inspect document; `container_config` is what the image's config
/// file records of the container that made it (`container_config`), if anything.
pub fn image(doc: &mut Value, container_config: Option<&Value>) {
    let config = run_config(doc.get("Config"));
    doc["Config"] = config;
    doc["ContainerConfig"] = run_config(container_config);
    fill(
        doc,
        json!({
            "Container": "",
            "DockerVersion": "",
            "Metadata": { "LastTagTime": crate::container::record::ZERO_TIME },
        }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_fields_get_dockers_empty_values_and_known_ones_stay() {
        let mut doc = json!({
            "Config": {"Env": ["A=1"]},
            "HostConfig": {"Memory": 5},
        });
        container(&mut doc);
        assert_eq!(doc["HostConfig"]["LogConfig"]["Type"], "json-file");
        assert_eq!(doc["HostConfig"]["Memory"], 5);
        assert_eq!(doc["Config"]["Env"][0], "A=1");
        assert!(doc["Config"]["Volumes"].is_null());
        assert!(doc["Config"].get("OnBuild").is_some());
        let mut img = json!({"Config": null});
        image(&mut img, None);
        assert_eq!(img["ContainerConfig"]["Hostname"], "");
        assert!(img["Config"].get("Cmd").is_some());
    }
}
