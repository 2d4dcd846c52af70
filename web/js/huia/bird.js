// A stylised huia (Heteralocha acutirostris) built from Three.js primitives, no external assets: glossy black
// body, orange wattles, ivory beak curving down (the female's), white-tipped tail, on a perch.
// The bird only animates; what it should do (look, jump, play) is decided by the page.
import * as THREE from '/node_modules/three/build/three.module.js';

const BLACK = 0x15171c;
const GLOSS = 0x1d3b35;
const ORANGE = 0xf2a93b;
const IVORY = 0xe8dcc0;
const WHITE = 0xf4f4f0;
const BROWN = 0x6b4a2b;
const WIRE = 0x3fe0b0; // the hover wireframe's glow

function mat(color, opts = {}) {
  return new THREE.MeshStandardMaterial({ color, roughness: 0.45, metalness: 0.1, ...opts });
}

/** A cone bent downwards along its length: the long curved beak. */
function curvedBeak(length = 1.15, radius = 0.085, droop = 0.45) {
  const g = new THREE.ConeGeometry(radius, length, 14, 16, false);
  g.translate(0, length / 2, 0); // base at y=0, tip at y=length
  g.rotateX(Math.PI / 2); // tip towards +z
  const p = g.attributes.position;
  for (let i = 0; i < p.count; i++) {
    const t = p.getZ(i) / length; // 0 at base, 1 at tip
    p.setY(i, p.getY(i) - droop * t * t);
  }
  g.computeVertexNormals();
  return g;
}

export class HuiaBird {
  constructor() {
    this.root = new THREE.Group();
    this.body = new THREE.Group();
    this.root.add(this.body);
    const black = mat(BLACK, { emissive: GLOSS, emissiveIntensity: 0.25 });

    const torso = new THREE.Mesh(new THREE.SphereGeometry(0.62, 32, 24), black);
    torso.scale.set(1.0, 0.95, 1.35);
    torso.rotation.x = -0.35;
    torso.position.set(0, 0.9, 0);
    this.body.add(torso);
    this.torso = torso;

    // tail: long and flat, with the white band at its tip
    const tail = new THREE.Group();
    tail.position.set(0, 0.72, -0.75);
    tail.rotation.x = 0.55;
    const tailMesh = new THREE.Mesh(new THREE.BoxGeometry(0.5, 0.07, 1.1), black);
    tailMesh.position.z = -0.55;
    const tip = new THREE.Mesh(new THREE.BoxGeometry(0.52, 0.08, 0.28), mat(WHITE));
    tip.position.z = -1.2;
    tail.add(tailMesh, tip);
    this.body.add(tail);

    // wings, hinged at the shoulder so they can flap
    this.wings = [-1, 1].map((side) => {
      const pivot = new THREE.Group();
      pivot.position.set(0.5 * side, 1.05, 0.05);
      const w = new THREE.Mesh(new THREE.SphereGeometry(0.5, 24, 16), black);
      w.scale.set(0.22, 0.7, 1.25);
      w.position.set(0.05 * side, -0.25, -0.2);
      w.rotation.x = -0.35;
      pivot.add(w);
      this.body.add(pivot);
      return pivot;
    });

    // head group: this is what follows the person's head
    this.head = new THREE.Group();
    this.head.position.set(0, 1.55, 0.55);
    const skull = new THREE.Mesh(new THREE.SphereGeometry(0.4, 32, 24), black);
    this.head.add(skull);
    for (const side of [-1, 1]) {
      const eye = new THREE.Mesh(new THREE.SphereGeometry(0.07, 16, 12), mat(0x3a2412, { roughness: 0.2 }));
      eye.position.set(0.27 * side, 0.1, 0.22);
      const glint = new THREE.Mesh(new THREE.SphereGeometry(0.022, 8, 8), mat(0xffffff, { emissive: 0xffffff }));
      glint.position.set(0.3 * side, 0.13, 0.27);
      const wattle = new THREE.Mesh(new THREE.SphereGeometry(0.1, 20, 16), mat(ORANGE, { roughness: 0.3 }));
      wattle.scale.set(0.6, 1.0, 0.6);
      wattle.position.set(0.15 * side, -0.14, 0.33);
      this.head.add(eye, glint, wattle);
    }
    const beak = new THREE.Mesh(curvedBeak(), mat(IVORY, { roughness: 0.35 }));
    beak.position.set(0, -0.05, 0.32);
    this.head.add(beak);
    this.body.add(this.head);

    // legs and a perch
    for (const side of [-1, 1]) {
      const leg = new THREE.Mesh(new THREE.CylinderGeometry(0.045, 0.045, 0.45, 8), mat(0x2a2a2a));
      leg.position.set(0.2 * side, 0.22, 0.05);
      this.body.add(leg);
    }
    const perch = new THREE.Mesh(new THREE.CylinderGeometry(0.09, 0.11, 3.2, 12), mat(BROWN, { roughness: 0.9 }));
    perch.rotation.z = Math.PI / 2;
    perch.position.set(0, -0.02, 0.05);
    this.root.add(perch);

    this.look = { yaw: 0, pitch: 0 };
    this.target = { yaw: 0, pitch: 0 };
    this.jumpT = null;
    this.anim = null; // {name, t, duration}
    this.jumps = 0;
    this.time = 0;
    this.wireframe = false;
  }

  /** The article's hover effect: every material of the bird (not its perch) drawn as a wireframe, or solid again. */
  setWireframe(on) {
    on = Boolean(on);
    if (on === this.wireframe) return;
    this.wireframe = on;
    const glow = new THREE.Color(WIRE);
    this.body.traverse((o) => {
      if (!o.isMesh) return;
      const m = o.material;
      // lines glow, so the effect shows even where a dense sphere's wires nearly fill the surface
      if (on && !m.userData.solid) m.userData.solid = { emissive: m.emissive.clone(), intensity: m.emissiveIntensity };
      m.wireframe = on;
      if (on) { m.emissive.copy(glow); m.emissiveIntensity = 0.9; } else if (m.userData.solid) {
        m.emissive.copy(m.userData.solid.emissive); m.emissiveIntensity = m.userData.solid.intensity;
      }
    });
  }

  /** Where the head should point, yaw/pitch in -1..1 (+yaw: towards the viewer's right, +pitch: up). */
  lookAt(yaw, pitch) {
    this.target.yaw = Math.max(-1, Math.min(1, yaw));
    this.target.pitch = Math.max(-1, Math.min(1, pitch));
  }

  jump() {
    if (this.jumpT != null) return false;
    this.jumpT = 0;
    this.jumps += 1;
    return true;
  }

  /** One of ANIMATIONS, played once. */
  play(name) {
    if (!HuiaBird.ANIMATIONS.includes(name)) return false;
    if (name === 'jump') return this.jump();
    this.anim = { name, t: 0, duration: name === 'spin' ? 1.0 : 1.2 };
    return true;
  }

  get busy() { return this.jumpT != null || this.anim != null; }

  update(dt) {
    this.time += dt;
    const k = 1 - Math.exp(-dt * 8);
    this.look.yaw += (this.target.yaw - this.look.yaw) * k;
    this.look.pitch += (this.target.pitch - this.look.pitch) * k;
    this.head.rotation.set(-this.look.pitch * 0.6, this.look.yaw * 1.0, this.look.yaw * -0.15);

    let y = 0; let sy = 1; let flap = 0.15 * Math.sin(this.time * 2);
    if (this.jumpT != null) {
      const T = 0.7;
      this.jumpT += dt;
      const u = this.jumpT / T;
      if (u >= 1) { this.jumpT = null; } else {
        y = 1.1 * Math.sin(Math.PI * u);
        sy = u < 0.12 || u > 0.88 ? 0.85 : 1.08;
        flap = 0.9 * Math.sin(u * Math.PI * 6);
      }
    }
    this.body.rotation.set(0, 0, 0);
    if (this.anim) {
      const a = this.anim;
      a.t += dt;
      const u = Math.min(1, a.t / a.duration);
      if (a.name === 'flap') flap = 1.1 * Math.sin(u * Math.PI * 8);
      if (a.name === 'spin') this.body.rotation.y = 2 * Math.PI * (u * u * (3 - 2 * u));
      if (a.name === 'nod') this.head.rotation.x += 0.5 * Math.sin(u * Math.PI * 4);
      if (a.name === 'bow') this.body.rotation.x = 0.6 * Math.sin(u * Math.PI);
      if (a.t >= a.duration) this.anim = null;
    }
    this.body.position.y = y;
    this.body.scale.set(1 / Math.sqrt(sy), sy, 1 / Math.sqrt(sy));
    this.wings[0].rotation.z = -flap;
    this.wings[1].rotation.z = flap;
  }
}
HuiaBird.ANIMATIONS = ['jump', 'flap', 'spin', 'nod', 'bow'];

/** Scene, camera, lights and renderer around a bird; call render(dt) every animation frame. */
export function createHuiaScene(canvas) {
  const renderer = new THREE.WebGLRenderer({ canvas, antialias: true });
  // Software GL (SwiftShader: headless, no GPU) would eat the CPU the pose model needs: render smaller and slower.
  const gl = renderer.getContext();
  const dbg = gl.getExtension('WEBGL_debug_renderer_info');
  const glName = dbg ? String(gl.getParameter(dbg.UNMASKED_RENDERER_WEBGL)) : '';
  const software = /swiftshader|llvmpipe|software/i.test(glName);
  renderer.setPixelRatio(software ? 0.5 : Math.min(2, window.devicePixelRatio || 1));
  const scene = new THREE.Scene();
  scene.background = new THREE.Color(0x1b2a24);
  scene.fog = new THREE.Fog(0x1b2a24, 8, 18);
  const camera = new THREE.PerspectiveCamera(35, 4 / 3, 0.1, 50);
  // framed for the top of a jump (1.1 above the perch, head raised), not only for the bird at rest: the head used
  // to leave the canvas mid-jump (tests/browser/test_huia_page.py measures the bird's screen bounds)
  camera.position.set(3.9, 2.6, 5.75);
  camera.lookAt(0, 1.5, 0);
  scene.add(new THREE.HemisphereLight(0xdfeee6, 0x203020, 1.1));
  const key = new THREE.DirectionalLight(0xffffff, 1.6);
  key.position.set(3, 5, 4);
  scene.add(key);
  const rim = new THREE.DirectionalLight(0x9fe0c8, 0.8);
  rim.position.set(-4, 3, -3);
  scene.add(rim);
  const ground = new THREE.Mesh(new THREE.CircleGeometry(6, 48), new THREE.MeshStandardMaterial({ color: 0x22352c, roughness: 1 }));
  ground.rotation.x = -Math.PI / 2;
  ground.position.y = -1.2;
  scene.add(ground);
  // a few fern-like leaves for depth
  for (let i = 0; i < 7; i++) {
    const leaf = new THREE.Mesh(new THREE.ConeGeometry(0.18, 1.6, 6), new THREE.MeshStandardMaterial({ color: 0x2f5d43, roughness: 0.8 }));
    const a = (i / 7) * Math.PI * 2;
    leaf.position.set(Math.cos(a) * 3.2, -0.5, Math.sin(a) * 2 - 2.5);
    leaf.rotation.z = Math.cos(a) * 0.4;
    scene.add(leaf);
  }
  const bird = new HuiaBird();
  scene.add(bird.root);
  function resize() {
    const w = canvas.clientWidth || canvas.width;
    const h = canvas.clientHeight || canvas.height;
    renderer.setSize(w, h, false);
    camera.aspect = w / h;
    camera.updateProjectionMatrix();
  }
  resize();
  const raycaster = new THREE.Raycaster();
  const pointer = new THREE.Vector2();
  const minInterval = software ? 1 / 12 : 0;
  let pending = 0;
  return {
    bird, scene, camera, renderer, resize, software,
    /** The bird's screen bounds (not its perch, a branch that runs off the canvas) in normalised device
     *  coordinates, from its vertices: inside the canvas is -1..1 on both axes. */
    birdBounds() {
      const b = { minX: Infinity, maxX: -Infinity, minY: Infinity, maxY: -Infinity };
      const v = new THREE.Vector3();
      bird.body.updateWorldMatrix(true, true);
      bird.body.traverse((o) => {
        const pos = o.isMesh ? o.geometry.attributes.position : null;
        for (let i = 0; pos && i < pos.count; i++) {
          v.fromBufferAttribute(pos, i).applyMatrix4(o.matrixWorld).project(camera);
          b.minX = Math.min(b.minX, v.x); b.maxX = Math.max(b.maxX, v.x);
          b.minY = Math.min(b.minY, v.y); b.maxY = Math.max(b.maxY, v.y);
        }
      });
      return b;
    },
    /** Is the bird (not its perch) under the point (x, y) in normalised device coordinates? A ray from the camera
     *  through it, against the bird's meshes. */
    hitsBird(x, y) {
      bird.body.updateWorldMatrix(true, true);
      raycaster.setFromCamera(pointer.set(x, y), camera);
      return raycaster.intersectObject(bird.body, true).length > 0;
    },
    /** Where an object's origin lands on screen, in normalised device coordinates (tests aim the mouse with it). */
    project(obj) {
      obj.updateWorldMatrix(true, false);
      const v = new THREE.Vector3().setFromMatrixPosition(obj.matrixWorld).project(camera);
      return { x: v.x, y: v.y };
    },
    /** Advance the animation by dt seconds; draws at most every minInterval seconds. */
    render(dt) {
      bird.update(dt);
      pending += dt;
      if (pending >= minInterval) { pending = 0; renderer.render(scene, camera); }
    },
  };
}
