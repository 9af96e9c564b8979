//! Alarm orders (`tessera_abi::order::alarm`): ARM, CANCEL, STATUS. The firing is `alarms.rs`.

use tessera_abi::order::alarm::{MAX_DEADLINE, MIN_PERIOD};
use tessera_abi::{order, CapType, Error, Rights};

use crate::cap::Cap;
use crate::cpu::Cpu;
use crate::invoke::object::{need, KReply, OrderResult};
use crate::invoke::Msg;
use crate::kernel::Kernel;
use crate::lock_key::LockKey;
use crate::object::alarm::Armed;
use crate::platform::Platform;

impl<P: Platform> Kernel<P> {
    pub(crate) fn alarm_order(&self, cpu: &mut Cpu, cap: Cap, msg: &Msg) -> OrderResult {
        let needed = match msg.order {
            order::alarm::ARM | order::alarm::CANCEL => Rights::WRITE,
            order::alarm::STATUS => Rights::READ,
            _ => return Err(Error::UnknownOrder.into()),
        };
        need(&cap, needed)?;
        let [deadline, period, word, _] = msg.data;
        let endpoint = msg.caps[0];
        if msg.order == order::alarm::ARM {
            let bad_period = period != 0 && !(MIN_PERIOD..=MAX_DEADLINE).contains(&period);
            if deadline > MAX_DEADLINE || bad_period {
                return Err(Error::InvalidArgument.into());
            }
            self.live_argument(endpoint, CapType::Endpoint)?;
        }
        let (v, index) = (cap.obj, cap.obj.index);
        if needed == Rights::WRITE {
            cpu.held.write(self, LockKey::alarm(index))?;
        } else {
            cpu.held.read(self, LockKey::alarm(index))?;
        }
        let Some(was) = self.alarms.read(v, |a| a.armed) else {
            return Err(Error::NullCapability.into());
        };
        // COMMIT POINT: the alarm is locked and the arguments are checked.
        let reply = match msg.order {
            order::alarm::ARM => {
                let armed = Armed {
                    deadline,
                    period,
                    endpoint,
                    word,
                    cpu: cpu.id,
                };
                self.unqueue_alarm(index, was);
                self.alarms.write(v, |a| a.armed = Some(armed));
                self.queue_alarm(cpu.id, index, deadline);
                KReply::default()
            }
            order::alarm::CANCEL => {
                self.unqueue_alarm(index, was);
                self.alarms.write(v, |a| a.armed = None);
                KReply::words([u64::from(was.is_some()), 0, 0, 0])
            }
            _ => KReply::words(match was {
                Some(a) => [1, a.deadline, a.period, 0],
                None => [0; 4],
            }),
        };
        Ok(reply)
    }
}
