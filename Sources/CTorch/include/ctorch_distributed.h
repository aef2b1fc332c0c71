/* ctorch_distributed.h — c10d (torch.distributed) process groups for data-parallel training.
 *
 * Same conventions as ctorch.h: 0 on success, nonzero with ct_last_error() on failure; tensor
 * handles returned through out-parameters are +1. Every blocking call takes a timeout in
 * milliseconds (> 0) and fails instead of waiting longer; failure messages start with
 * "rank R: " and name the operation. After a failed collective the group is unusable (peers
 * may be blocked or gone): free it and end the process.
 *
 * Collectives must be called in the same order with tensors of the same shapes and dtypes on
 * every rank. Tensors are modified in place where stated (through their storage, bypassing
 * autograd, so leaf parameters that require grad may be passed). */
#ifndef CTORCH_DISTRIBUTED_H
#define CTORCH_DISTRIBUTED_H
#include <stdint.h>
#include "ctorch.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct ct_process_group_s *ct_process_group;

enum { CT_BACKEND_GLOO = 0, CT_BACKEND_NCCL = 1 };
enum { CT_REDUCE_SUM = 0, CT_REDUCE_AVG = 1, CT_REDUCE_PRODUCT = 2, CT_REDUCE_MIN = 3, CT_REDUCE_MAX = 4 };

/** 1 when this build of the shim can create process groups of the backend, 0 otherwise. */
int ct_dist_backend_available(int backend);

/** Joins a group of world_size processes. Rank 0 serves a TCPStore on master_addr:master_port
 *  (all ranks connect to it); the backend then connects every pair of ranks. Gloo binds to
 *  127.0.0.1 when master_addr is a loopback address, to the interface named by
 *  GLOO_SOCKET_IFNAME when that is set, and to this host's resolved name otherwise. */
int ct_pg_new(ct_process_group *out, const char *master_addr, int master_port, int rank, int world_size,
              int backend, int64_t timeout_ms);
void ct_pg_free(ct_process_group pg);
int ct_pg_rank(ct_process_group pg);
int ct_pg_world_size(ct_process_group pg);

/** Reduces each of the n tensors across ranks in place (one collective per tensor, all in flight
 *  together). CT_REDUCE_AVG divides a sum by world_size on backends without a native average. */
int ct_pg_allreduce(ct_process_group pg, const ct_tensor *tensors, int n, int op, int64_t timeout_ms);
/** outs[r] (world_size handles) receives rank r's copy of input (same shape and dtype). */
int ct_pg_allgather(ct_process_group pg, ct_tensor *outs, ct_tensor input, int64_t timeout_ms);
/** Overwrites each tensor with root's values, in place. */
int ct_pg_broadcast(ct_process_group pg, const ct_tensor *tensors, int n, int root, int64_t timeout_ms);
/** Returns when every rank has entered the barrier. */
int ct_pg_barrier(ct_process_group pg, int64_t timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
